#include "sender.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>

#include "args.h"
#include "errors.h"
#include "make_engine.h"
#include "probe.h"

namespace sendgroup {

Napi::Function Sender::Define(Napi::Env env) {
  return DefineClass(env, "NativeSender",
                     {
                         InstanceMethod<&Sender::SendFunction>("sendFunction"),
                         InstanceMethod<&Sender::Table>("table"),
                         InstanceMethod<&Sender::Abort>("abort"),
                         InstanceMethod<&Sender::Close>("close"),
                         InstanceMethod<&Sender::Take>("take"),
                         InstanceMethod<&Sender::Hold>("hold"),
                         InstanceMethod<&Sender::Address>("address"),
                         InstanceMethod<&Sender::Features>("features"),
                     });
}

Sender::Sender(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sender>(info) {
  Napi::Env env = info.Env();
  CheckConstructorArgs(info, "NativeSender(options, notify, mailbox, attachments)");
  SenderArgs args = ReadSenderArgs(info[0].As<Napi::Object>());
  Socket socket = OpenSocket(env, args.socket);
  fd_ = socket.fd;
  family_ = socket.family;
  errorRoom_ = socket.errorRoom;
  found_ = socket.found;
  // A throwing constructor never runs ~Sender: what is open closes here.
  // Attach calls into JavaScript, which fails in a worker being terminated.
  try {
    engine_ = MakeEngine(env, args);
    js_.Attach(info, "sendgroup");
  } catch (...) {
    Release();
    throw;
  }
  TellExternalBytes(env, int64_t(args.slots) * int64_t(kSlotSize));
  UpdateBusy();
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  hookAdded_ = true;
}

Sender::~Sender() {
  *self_ = nullptr;
  if (hookAdded_) napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  Release();
}

void Sender::OnEnvCleanup(void* self) {
  // The thread (main or worker) is going away: nothing may call into
  // JavaScript, but the kernel must be done with our memory before it goes.
  auto* sender = static_cast<Sender*>(self);
  sender->hookAdded_ = false;
  sender->externalBytes_ = 0;  // V8's count goes with the environment
  sender->Release();
}

void Sender::TellExternalBytes(Napi::Env env, int64_t bytes) {
  int64_t total = 0;
  napi_adjust_external_memory(env, bytes - externalBytes_, &total);
  externalBytes_ = bytes;
}

std::unique_ptr<Engine> Sender::MakeEngine(Napi::Env env, const SenderArgs& args) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  EngineSpec spec{args.backend, args.ring, args.threads, args.socket, args.inlineBelow};
  Socket socket{fd_, family_, errorRoom_};
  return sendgroup::MakeEngine(env, loop, spec, socket, std::make_shared<SlotPool>(args.slots), [this] { Notify(); });
}

Napi::Value Sender::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SendArgs args = ReadSendArgs(info, js_.Mailbox() + kCallAt);
  if (closing_ || !engine_) ThrowTypeError(env, "sender is closed");
  Sources sources;
  auto batch = MakeBatch(env, args, family_, sources);
  engine_->Start(std::move(batch), sources);
  return Mail(env);
}

Napi::Value Sender::SendFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* self = new std::shared_ptr<Sender*>(self_);
  Napi::Function send;
  try {
    send = Napi::Function::New<BoundSend>(env, "send", self);
    send.AddFinalizer([](Napi::Env, std::shared_ptr<Sender*>* data) { delete data; }, self);
  } catch (...) {
    delete self;
    throw;
  }
  return send;
}

Napi::Value Sender::BoundSend(const Napi::CallbackInfo& info) {
  Sender* sender = *static_cast<std::shared_ptr<Sender*>*>(info.Data())->get();
  if (!sender) ThrowTypeError(info.Env(), "sender is closed");
  return sender->Send(info);
}

Napi::Value Sender::Table(const Napi::CallbackInfo& info) {
  ByteView table = ReadBytes(info[0], "table");
  if (!info[1].IsNumber()) ThrowTypeError(info.Env(), "count must be a number");
  return TableHandle(info.Env(), table, info[1].As<Napi::Number>().Uint32Value(), family_);
}

Napi::Value Sender::Abort(const Napi::CallbackInfo& info) {
  uint32_t token = info[0].As<Napi::Number>().Uint32Value();
  if (engine_) engine_->Abort(token);
  return Mail(info.Env());
}

Napi::Value Sender::Close(const Napi::CallbackInfo& info) {
  if (!closing_) {
    closing_ = true;
    if (engine_) engine_->AbortAll();
  }
  return Mail(info.Env());
}

Napi::Value Sender::Take(const Napi::CallbackInfo& info) { return Mail(info.Env()); }

Napi::Value Sender::Hold(const Napi::CallbackInfo& info) {
  SetHeld(info[0].ToBoolean() && !released_);
  return info.Env().Undefined();
}

void Sender::SetHeld(bool hold) {
  if (hold == held_) return;
  held_ = hold;
  if (hold) Ref();
  else Unref();
}

Napi::Value Sender::Mail(Napi::Env env) {
  Settle();
  return js_.Write(env, outbox_);
}

void Sender::Settle() {
  if (engine_) engine_->Collect(outbox_);
  // Before a release: it drops the engine, and with it what says busy.
  UpdateBusy();
  if (closing_ && !released_ && (!engine_ || engine_->Idle())) {
    Release();
    // No 'unreachable' event can come any more: listeners no longer hold us.
    SetHeld(false);
    outbox_.PushClosed();
  }
}

void Sender::Notify() {
  Settle();
  if (outbox_.Empty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  // Collected already, its finalizer (which releases everything) not yet
  // run: nobody is left to tell.
  if (Value().IsEmpty()) return;
  // JavaScript may drop its last reference to us (close, then forget).
  Ref();
  js_.Call(env, Value());
  Unref();
}

void Sender::UpdateBusy() {
  bool busy = engine_ && !engine_->Idle();
  if (busy == busy_) return;
  busy_ = busy;
  // While sends are in flight the engine keeps the loop alive and a
  // reference keeps this object from being collected under the kernel.
  engine_->KeepLoopAlive(busy);
  if (busy) Ref();
  else Unref();
}

Napi::Value Sender::Address(const Napi::CallbackInfo& info) {
  if (fd_ < 0) ThrowTypeError(info.Env(), "sender is closed");
  return LocalAddressObject(info.Env(), fd_);
}

Napi::Value Sender::Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) ThrowTypeError(env, "sender is closed");
  BackendInfo backend = engine_->Info();
  Napi::Object features = RingFeaturesObject(env, backend.ring);
  features.Set("backend", backend.name);
  features.Set("ioUringErrno", backend.ioUringErrno);
  features.Set("queueDepth", backend.ring.entries);
  features.Set("zeroCopyRefusedErrno", backend.zeroCopyRefused);
  features.Set("staleRetries", backend.staleRetries);
  return features;
}

void Sender::Release() {
  if (released_) return;
  released_ = true;
  if (engine_) engine_->Drain();
  engine_.reset();
  if (externalBytes_) TellExternalBytes(Env(), 0);
  if (fd_ >= 0) {
    HandBack(fd_, found_);
    close(fd_);
  }
  fd_ = -1;
  // Busy here only at environment teardown, where references die with the
  // environment; after close() (Settle) or in a finalizer we are already idle.
  busy_ = false;
}

}  // namespace sendgroup

#include "sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "ring.h"
#include "mmsg_backend.h"
#include "uring_backend.h"

namespace sendgroup {

namespace {

constexpr unsigned kMaxQueueDepth = 16384;
constexpr unsigned kMaxSlots = 1024;
constexpr uint32_t kMaxExtraLength = 65535;

uint32_t UintOption(Napi::Object options, const char* key, uint32_t fallback, uint32_t max) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) ThrowTypeError(options.Env(), std::string(key) + " must be a number");
  uint32_t n = value.As<Napi::Number>().Uint32Value();
  if (n < 1 || n > max) ThrowRangeError(options.Env(), std::string(key) + " is out of range");
  return n;
}

Napi::Uint8Array Bytes(Napi::Value value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(value.Env(), std::string(what) + " must be a Uint8Array");
  }
  return value.As<Napi::Uint8Array>();
}

// Per-recipient bytes: undefined, an array of one Uint8Array per member, or
// { data, stride }. Records lengths and where to copy from; Batch::Place
// makes the copy.
void ParseExtras(Napi::Value value, uint32_t count, const char* what, Extras& out) {
  if (value.IsUndefined()) return;
  Napi::Env env = value.Env();
  out.offsets.resize(size_t(count) + 1);
  out.sources.resize(count);
  uint64_t total = 0;
  if (value.IsArray()) {
    Napi::Array parts = value.As<Napi::Array>();
    if (parts.Length() != count) ThrowRangeError(env, std::string(what) + " must have one entry per member");
    for (uint32_t i = 0; i < count; ++i) {
      Napi::Uint8Array part = Bytes(parts.Get(i), what);
      if (part.ByteLength() > kMaxExtraLength) ThrowRangeError(env, std::string(what) + " entry is too long");
      out.offsets[i] = uint32_t(total);
      out.sources[i] = part.Data();
      total += part.ByteLength();
    }
  } else if (value.IsObject()) {
    Napi::Object spec = value.As<Napi::Object>();
    Napi::Uint8Array data = Bytes(spec.Get("data"), what);
    uint32_t stride = spec.Get("stride").As<Napi::Number>().Uint32Value();
    if (stride > kMaxExtraLength || uint64_t(stride) * count != data.ByteLength()) {
      ThrowRangeError(env, std::string(what) + ".data must hold stride bytes per member");
    }
    for (uint32_t i = 0; i < count; ++i) {
      out.offsets[i] = uint32_t(total);
      out.sources[i] = data.Data() + size_t(i) * stride;
      total += stride;
    }
  } else {
    ThrowTypeError(env, std::string(what) + " must be an array or { data, stride }");
  }
  if (total > UINT32_MAX) ThrowRangeError(env, std::string(what) + " is too large");
  out.offsets[count] = uint32_t(total);
}

int SetIntOption(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}

}  // namespace

Napi::Function Sender::Define(Napi::Env env) {
  return DefineClass(env, "NativeSender",
                     {
                         InstanceMethod<&Sender::Send>("send"),
                         InstanceMethod<&Sender::Abort>("abort"),
                         InstanceMethod<&Sender::Close>("close"),
                         InstanceMethod<&Sender::Address>("address"),
                         InstanceMethod<&Sender::Features>("features"),
                     });
}

// new NativeSender({ bind | fd, backend?, queueDepth?, slots?, registerBuffers?, sendBufferSize? }, onDone, onProgress,
//                   onClosed, result)
Sender::Sender(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sender>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction() || !info[3].IsFunction() ||
      !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[4].As<Napi::Float64Array>().ElementLength() < 3) {
    ThrowTypeError(env, "NativeSender(options, onDone, onProgress, onClosed, result)");
  }
  Napi::Object options = info[0].As<Napi::Object>();
  unsigned queueDepth = UintOption(options, "queueDepth", kDefaultEntries, kMaxQueueDepth);
  unsigned slots = UintOption(options, "slots", kDefaultSlots, kMaxSlots);
  bool registerBuffers = options.Get("registerBuffers").ToBoolean();
  uint32_t sendBufferSize = UintOption(options, "sendBufferSize", 0, INT32_MAX / 2);
  Napi::Value adopt = options.Get("fd");
  if (adopt.IsNumber()) AdoptSocket(env, adopt.As<Napi::Number>().Int32Value());
  else OpenSocket(env, options.Get("bind"));
  try {
    if (sendBufferSize && SetIntOption(fd_, SOL_SOCKET, SO_SNDBUF, int(sendBufferSize)) < 0) {
      ThrowSyscallError(env, "setsockopt", errno);
    }
    backend_ = MakeBackend(env, options.Get("backend"), queueDepth, slots, registerBuffers);
  } catch (...) {
    close(fd_);
    fd_ = -1;
    throw;
  }

  // The callbacks close over the JavaScript Sender, which holds this object:
  // strong references from here would root that cycle forever. They live as
  // properties of this object instead, and we only hold them weakly.
  Napi::Object self = info.This().As<Napi::Object>();
  self.Set("callbacks", Napi::Array::New(env, 3));
  for (uint32_t i = 1; i <= 3; ++i) self.Get("callbacks").As<Napi::Array>().Set(i - 1, info[i]);
  onDone_ = Napi::Weak(info[1].As<Napi::Function>());
  onProgress_ = Napi::Weak(info[2].As<Napi::Function>());
  onClosed_ = Napi::Weak(info[3].As<Napi::Function>());
  result_ = Napi::Persistent(info[4].As<Napi::Float64Array>());
  resultData_ = info[4].As<Napi::Float64Array>().Data();
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "sendgroup");
  StartPolling(env);
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  hookAdded_ = true;
}

Sender::~Sender() {
  if (hookAdded_) napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  Release();
}

void Sender::OnEnvCleanup(void* self) {
  // The thread (main or worker) is going away: nothing may call into
  // JavaScript, but the kernel must be done with our memory before it goes.
  auto* sender = static_cast<Sender*>(self);
  sender->hookAdded_ = false;
  sender->Release();
}

std::unique_ptr<Backend> Sender::MakeBackend(Napi::Env env, Napi::Value choice, unsigned queueDepth, unsigned slots,
                                             bool registerBuffers) {
  std::string name = choice.IsString() ? choice.As<Napi::String>().Utf8Value() : "auto";
  if (name == "sendmmsg") return std::make_unique<MmsgBackend>(fd_, 0);
  if (name != "auto" && name != "io_uring") ThrowTypeError(env, "backend must be 'auto', 'io_uring' or 'sendmmsg'");
  auto uring = std::make_unique<UringBackend>(fd_, queueDepth, slots, registerBuffers);
  int err = uring->SetupErrno();
  if (err == 0) return uring;
  if (name == "io_uring") ThrowSyscallError(env, "io_uring_setup", err);
  // 'auto': io_uring refused (seccomp EPERM, io_uring_disabled, ENOMEM).
  return std::make_unique<MmsgBackend>(fd_, err);
}

void Sender::AdoptSocket(Napi::Env env, int userFd) {
  int type = 0;
  socklen_t length = sizeof(type);
  if (getsockopt(userFd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) ThrowSyscallError(env, "getsockopt", errno);
  if (type != SOCK_DGRAM) ThrowTypeError(env, "socket must be a UDP socket");
  sockaddr_storage local{};
  length = sizeof(local);
  if (getsockname(userFd, reinterpret_cast<sockaddr*>(&local), &length) < 0) ThrowSyscallError(env, "getsockname", errno);
  family_ = local.ss_family;
  // Our own descriptor for the user's socket: closing the Sender closes
  // only it. IP_RECVERR is left off on purpose: it would turn ICMP errors
  // into receive errors that dgram emits as 'error' on the user's socket.
  fd_ = fcntl(userFd, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0) ThrowSyscallError(env, "fcntl", errno);
}

void Sender::OpenSocket(Napi::Env env, Napi::Value bind) {
  Napi::Uint8Array packed = Bytes(bind, "bind");
  std::vector<Target> local;
  if (packed.ByteLength() < kMemberBytes || !ParseTargets(packed.Data(), 1, packed.Data()[0] == 4 ? AF_INET : AF_INET6, local)) {
    ThrowTypeError(env, "bind must be one packed member");
  }
  family_ = local[0].sa.sa_family;
  fd_ = socket(family_, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  // [::] on a host without IPv6: the same port on 0.0.0.0 is what was meant.
  if (fd_ < 0 && errno == EAFNOSUPPORT && IN6_IS_ADDR_UNSPECIFIED(&local[0].v6.sin6_addr)) {
    uint16_t port = local[0].v6.sin6_port;
    local[0].v4 = {};
    local[0].v4.sin_family = AF_INET;
    local[0].v4.sin_port = port;
    local[0].len = sizeof(sockaddr_in);
    family_ = AF_INET;
    fd_ = socket(family_, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  if (fd_ < 0) ThrowSyscallError(env, "socket", errno);
  // Blocking or not makes no difference to us: io_uring waits for room in
  // the send buffer by itself (poll-armed) and sendmmsg passes MSG_DONTWAIT.
  if (family_ == AF_INET6) SetIntOption(fd_, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  // Without IP_RECVERR a UDP send whose skb the qdisc drops reports success
  // (ENOBUFS is swallowed); with it the drop reaches the member's report.
  SetIntOption(fd_, IPPROTO_IP, IP_RECVERR, 1);
  if (family_ == AF_INET6) SetIntOption(fd_, IPPROTO_IPV6, IPV6_RECVERR, 1);
  if (::bind(fd_, &local[0].sa, local[0].len) < 0) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowSyscallError(env, "bind", err);
  }
}

void Sender::StartPolling(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, backend_->PollFd());
  poll_->data = this;
  // Idle senders must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  UpdatePoll();
}

void Sender::UpdatePoll() {
  PollFor want = backend_ ? backend_->Poll() : PollFor::kNothing;
  if (want == pollFor_ || !poll_) return;
  pollFor_ = want;
  if (want == PollFor::kNothing) uv_poll_stop(poll_);
  else uv_poll_start(poll_, want == PollFor::kReadable ? UV_READABLE : UV_WRITABLE, OnPoll);
}

void Sender::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<Sender*>(handle->data);
  if (!self || !self->backend_) return;
  // For everything below, error.Value() in the catch included.
  Napi::HandleScope scope(self->Env());
  // On an error event libuv has stopped watching: UpdatePoll must restart it.
  if (status < 0) self->pollFor_ = PollFor::kNothing;
  try {
    self->backend_->OnReady(status < 0);
    self->Deliver(true);
    self->FinishCloseIfIdle(true);
  } catch (const Napi::Error& error) {
    // Nothing in JavaScript is below us to catch it: make it uncaught.
    napi_fatal_exception(self->Env(), error.Value());
  }
}

// send(token, members, count, payload, prefix, suffix, zeroCopy, segmentSize, stream)
Napi::Value Sender::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_ || !backend_) ThrowTypeError(env, "sender is closed");
  auto batch = std::make_unique<Batch>();
  uint32_t token = info[0].As<Napi::Number>().Uint32Value();
  if (token == kNoToken) ThrowRangeError(env, "token must not be 0");
  batch->token = token;
  Napi::Uint8Array members = Bytes(info[1], "members");
  uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  if (uint64_t(count) * kMemberBytes > members.ByteLength()) ThrowRangeError(env, "members table is too short");
  Napi::Uint8Array payload = Bytes(info[3], "payload");
  if (payload.ByteLength() > 65535) ThrowRangeError(env, "payload is larger than a UDP datagram");
  batch->payloadLength = payload.ByteLength();
  ParseExtras(info[4], count, "prefix", batch->prefix);
  ParseExtras(info[5], count, "suffix", batch->suffix);
  batch->zeroCopy = info[6].ToBoolean();
  batch->segmentSize = uint16_t(info[7].As<Napi::Number>().Uint32Value());
  batch->stream = info[8].ToBoolean();
  if (!ParseTargets(members.Data(), count, family_, batch->targets)) ThrowTypeError(env, "members table is malformed");
  backend_->Start(std::move(batch), payload.Data());
  return Napi::Boolean::New(env, Deliver(false, token));
}

Napi::Value Sender::Abort(const Napi::CallbackInfo& info) {
  if (backend_) {
    backend_->Abort(info[0].As<Napi::Number>().Uint32Value());
    Deliver(false);
  }
  return info.Env().Undefined();
}

Napi::Value Sender::Close(const Napi::CallbackInfo& info) {
  if (!closing_) {
    closing_ = true;
    if (backend_) backend_->AbortAll();
    Deliver(false);
    FinishCloseIfIdle(false);
  }
  return info.Env().Undefined();
}

Napi::Value Sender::Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_in6 addr{};
  socklen_t len = sizeof(addr);
  if (fd_ < 0) ThrowTypeError(env, "sender is closed");
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) < 0) ThrowSyscallError(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN] = "";
  Napi::Object result = Napi::Object::New(env);
  if (addr.sin6_family == AF_INET6) {
    inet_ntop(AF_INET6, &addr.sin6_addr, text, sizeof(text));
    result.Set("family", "IPv6");
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
    result.Set("family", "IPv4");
  }
  result.Set("address", text);
  result.Set("port", ntohs(addr.sin6_port));
  return result;
}

Napi::Value Sender::Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!backend_) ThrowTypeError(env, "sender is closed");
  BackendInfo backend = backend_->Info();
  const RingFeatures& f = backend.ring;
  Napi::Object features = Napi::Object::New(env);
  features.Set("backend", backend.name);
  features.Set("ioUringErrno", -backend.ioUringErrno);
  features.Set("queueDepth", f.entries);
  features.Set("deferTaskrun", f.deferTaskrun);
  features.Set("sendWithAddr", f.sendWithAddr);
  features.Set("sendZc", f.sendZc);
  features.Set("sendmsgZc", f.sendmsgZc);
  features.Set("reportUsage", f.reportUsage);
  features.Set("sendmsgZcFixed", f.sendmsgZcFixed);
  features.Set("fixedBuffers", f.fixedBuffers);
  features.Set("fixedBuffersErrno", -f.fixedBuffersErrno);
  features.Set("zeroCopyRefusedErrno", -backend.zeroCopyRefused);
  return features;
}

void Sender::Invoke(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args, bool fromLoop) {
  if (fromLoop) {
    // MakeCallback runs the microtasks (promise reactions) afterwards.
    fn.MakeCallback(Value(), args, *asyncContext_);
  } else {
    fn.Call(Value(), args);
  }
}

bool Sender::Deliver(bool fromLoop, uint32_t inlineToken) {
  bool inlineDone = false;
  if (!backend_) return inlineDone;
  std::vector<Batch*> touched = backend_->TakeTouched();
  std::vector<std::unique_ptr<Batch>> finished = backend_->TakeFinished();
  if (!touched.empty() || !finished.empty()) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (Batch* batch : touched) {
      batch->touched = false;
      if (batch->progress.empty()) continue;
      auto progress = Napi::Int32Array::New(env, batch->progress.size());
      std::memcpy(progress.Data(), batch->progress.data(), batch->progress.size() * sizeof(int32_t));
      batch->progress.clear();
      Invoke(onProgress_, {Napi::Number::New(env, batch->token), progress}, fromLoop);
    }
    for (const auto& batch : finished) {
      if (batch->token == inlineToken && batch->errors.empty() && !batch->stream) {
        resultData_[0] = batch->sent;
        resultData_[1] = batch->bytes;
        resultData_[2] = double(batch->ZeroCopyOutcome());
        inlineDone = true;
        continue;
      }
      Napi::Value errors = env.Undefined();
      if (!batch->errors.empty()) {
        batch->SortErrors();
        auto list = Napi::Int32Array::New(env, batch->errors.size());
        std::memcpy(list.Data(), batch->errors.data(), batch->errors.size() * sizeof(int32_t));
        errors = list;
      }
      Invoke(onDone_,
             {Napi::Number::New(env, batch->token), Napi::Number::New(env, batch->sent),
              Napi::Number::New(env, batch->failed), Napi::Number::New(env, batch->bytes),
              Napi::Number::New(env, int(batch->ZeroCopyOutcome())), errors},
             fromLoop);
    }
  }
  UpdateBusy();
  return inlineDone;
}

void Sender::UpdateBusy() {
  UpdatePoll();
  bool busy = backend_ && !backend_->Idle();
  if (busy == busy_ || !poll_) return;
  busy_ = busy;
  // While sends are in flight the poll handle keeps the loop alive and a
  // reference keeps this object from being collected under the kernel.
  if (busy) {
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    Ref();
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    Unref();
  }
}

void Sender::FinishCloseIfIdle(bool fromLoop) {
  if (!closing_ || released_ || (backend_ && !backend_->Idle())) return;
  Release();
  Napi::HandleScope scope(Env());
  Invoke(onClosed_, {}, fromLoop);
}

void Sender::Release() {
  if (released_) return;
  released_ = true;
  if (backend_) backend_->Drain();
  backend_.reset();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (poll_) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  // Busy here only at environment teardown, where references die with the
  // environment; after close() or in a finalizer we are already idle.
  busy_ = false;
}

}  // namespace sendgroup

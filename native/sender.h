// The JavaScript-facing Sender: the binding. It owns the socket and an
// engine (engine.h), turns call arguments into Batches (args.h), and hands
// results back through the mailbox (outbox.h).
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "engine.h"
#include "js_link.h"
#include "outbox.h"
#include "socket.h"

namespace sendgroup {

class Sender : public Napi::ObjectWrap<Sender> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeSender(options, notify, mailbox, attachments)
  explicit Sender(const Napi::CallbackInfo& info);
  ~Sender() override;

 private:
  // Each returns the number of records it left in the mailbox.
  Napi::Value Send(const Napi::CallbackInfo& info);
  // sendFunction(): send() bound to this Sender. An instance method finds
  // its object through napi_unwrap on every call (a private-symbol lookup,
  // about 700 instructions: a tenth of a one-member call); the bound
  // function carries it as its data.
  Napi::Value SendFunction(const Napi::CallbackInfo& info);
  static Napi::Value BoundSend(const Napi::CallbackInfo& info);
  // table(packed, count): a table handle for send() (args.h TableHandle).
  Napi::Value Table(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Take(const Napi::CallbackInfo& info);
  // hold(true): stay alive while JavaScript listens for events, as a dgram
  // socket with listeners does; hold(false) lets an idle, dropped Sender go.
  Napi::Value Hold(const Napi::CallbackInfo& info);
  void SetHeld(bool hold);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Features(const Napi::CallbackInfo& info);

  std::unique_ptr<Engine> MakeEngine(Napi::Env env, const struct SenderArgs& args);
  // After the engine did work: collect its results, finish a close.
  void Settle();
  Napi::Value Mail(Napi::Env env);
  // From the loop: tells JavaScript that results wait (it takes them).
  void Notify();
  void UpdateBusy();
  // Synchronous teardown, no JavaScript: drain the kernel, close everything.
  void Release();
  static void OnEnvCleanup(void* self);

  int fd_ = -1;
  int family_ = 0;
  unsigned errorRoom_ = 0;
  FoundOptions found_;  // an adopted socket's, restored at release
  std::unique_ptr<Engine> engine_;
  Outbox outbox_;
  bool busy_ = false;
  bool held_ = false;
  bool closing_ = false;
  bool released_ = false;
  JsLink js_;
  bool hookAdded_ = false;
  // The payload slots' size, told to V8 while the engine lives: a Sender
  // dropped without close() is a small object to the collector, which
  // would otherwise let thousands of them (and their rings, sockets and
  // mappings) pile up before it runs.
  int64_t externalBytes_ = 0;
  void TellExternalBytes(Napi::Env env, int64_t bytes);
  // What bound send() functions reach this Sender by: cleared when it is
  // destroyed, so a function that outlives it throws instead of calling
  // into freed memory (each function owns a copy, freed with it).
  std::shared_ptr<Sender*> self_ = std::make_shared<Sender*>(this);
};

}  // namespace sendgroup

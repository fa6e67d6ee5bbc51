// The JavaScript-facing Sender: owns the UDP socket and a backend, turns
// call arguments into Batches, and delivers results back through callbacks
// given at construction (no per-member objects, one call per batch).
#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "backend.h"

namespace sendgroup {

class Sender : public Napi::ObjectWrap<Sender> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Sender(const Napi::CallbackInfo& info);
  ~Sender() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Features(const Napi::CallbackInfo& info);

  void OpenSocket(Napi::Env env, Napi::Value bind);
  void AdoptSocket(Napi::Env env, int userFd);
  std::unique_ptr<Backend> MakeBackend(Napi::Env env, Napi::Value choice, unsigned queueDepth, unsigned slots,
                                       bool registerBuffers);
  void UpdatePoll();
  void StartPolling(Napi::Env env);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  // Hands finished batches and stream progress to JavaScript. fromLoop: we
  // are in a libuv callback, not inside a call from JavaScript. Returns
  // whether the batch of inlineToken finished cleanly and its result went
  // to the shared result array instead of onDone (kNoToken: none).
  static constexpr uint32_t kNoToken = 0;
  bool Deliver(bool fromLoop, uint32_t inlineToken = kNoToken);
  void Invoke(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args, bool fromLoop);
  void UpdateBusy();
  void FinishCloseIfIdle(bool fromLoop);
  // Synchronous teardown, no JavaScript: drain the kernel, close everything.
  void Release();
  static void OnEnvCleanup(void* self);

  int fd_ = -1;
  int family_ = 0;
  std::unique_ptr<Backend> backend_;
  PollFor pollFor_ = PollFor::kNothing;
  uv_poll_t* poll_ = nullptr;
  bool busy_ = false;
  bool closing_ = false;
  bool released_ = false;
  Napi::FunctionReference onDone_, onProgress_, onClosed_;
  // [sent, bytes, zeroCopy] of a call that finished inside send(), with no
  // failure: the common case skips a call back into JavaScript.
  Napi::Reference<Napi::Float64Array> result_;
  double* resultData_ = nullptr;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  bool hookAdded_ = false;
};

}  // namespace sendgroup

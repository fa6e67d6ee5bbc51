// Sending inline (threads: 0): one backend driven by the JavaScript
// thread's own event loop; no thread hop.
#pragma once

#include <uv.h>

#include "engine.h"
#include "poller.h"

namespace sendgroup {

class InlineEngine : public Engine {
 public:
  InlineEngine(uv_loop_t* loop, int fd, std::shared_ptr<SlotPool> pool, std::unique_ptr<Backend> backend, Notify notify);

  void Start(std::unique_ptr<Batch> batch, const Sources& sources) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  bool Idle() const override { return backend_->Idle(); }
  void Collect(ResultSink& sink) override;
  void KeepLoopAlive(bool alive) override;
  void Drain() override;
  BackendInfo Info() const override { return backend_->Info(); }

 private:
  static void OnRingPoll(void* self, int status, int events);
  static void OnSocketPoll(void* self, int status, int events);
  // The socket is always watched for errors, and for room while sends wait.
  void WatchSocket();

  std::shared_ptr<SlotPool> pool_;  // before the backend: its ring registers it
  std::unique_ptr<Backend> backend_;
  Notify notify_;
  std::unique_ptr<Poller> ringPoll_, socketPoll_;
};

}  // namespace sendgroup

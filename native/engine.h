// Where a Sender's calls are sent from: inline on the JavaScript thread's
// event loop (threads: 0, inline_engine.h), or on native threads with event
// loops of their own (threaded_engine.h). The binding (sender.h) sees only
// this interface.
#pragma once

#include <functional>
#include <memory>

#include "backend.h"

namespace sendgroup {

class Engine {
 public:
  // Called on the JavaScript thread's loop, never inside a call into the
  // engine, when results wait for Collect.
  using Notify = std::function<void()>;

  virtual ~Engine() = default;
  // Copies the caller's bytes before it returns, and starts sending.
  virtual void Start(std::unique_ptr<Batch> batch, const Sources& sources) = 0;
  // Members not yet sent fail with ECANCELED; no-op for an unknown token.
  virtual void Abort(uint32_t token) = 0;
  virtual void AbortAll() = 0;
  virtual bool Idle() const = 0;
  // Hands every result since the last call to sink.
  virtual void Collect(ResultSink& sink) = 0;
  // While sends are in flight the engine keeps the JavaScript loop alive.
  virtual void KeepLoopAlive(bool alive) = 0;
  // Teardown, when no JavaScript can run: cancels everything and waits
  // (bounded) until the kernel no longer uses any batch memory.
  virtual void Drain() = 0;
  virtual BackendInfo Info() const = 0;
};

}  // namespace sendgroup

// The send path behind a Sender. io_uring is one backend; another (e.g.
// sendmmsg where io_uring is blocked) implements the same interface, and
// neither lib/ nor sender.cc changes.
#pragma once

#include <memory>
#include <vector>

#include "group.h"

namespace sendgroup {

class Backend {
 public:
  virtual ~Backend() = default;

  // Readable when the backend has completions to collect (OnReadable).
  virtual int PollFd() const = 0;
  // Copies the payload and the batch's extras (synchronously: the caller may
  // reuse its buffers at once) and starts sending.
  virtual void Start(std::unique_ptr<Batch> batch, const uint8_t* payload) = 0;
  // Members not yet sent fail with ECANCELED; no-op for an unknown token.
  virtual void Abort(uint32_t token) = 0;
  virtual void AbortAll() = 0;
  virtual void OnReadable() = 0;
  virtual bool Idle() const = 0;
  // Cancels everything and waits (bounded) until the kernel no longer uses
  // any batch memory; for teardown, when no JavaScript can run.
  virtual void Drain() = 0;
  // Whether zero-copy is available for this batch's shape.
  virtual bool CanZeroCopy(const Batch& batch) const = 0;

  // Results since the last call: stream batches with new progress, then
  // batches that finished (owned by the caller from here on).
  std::vector<Batch*> TakeTouched() { return std::move(touched_); }
  std::vector<std::unique_ptr<Batch>> TakeFinished() { return std::move(finished_); }

 protected:
  void Touch(Batch* batch) {
    if (batch->stream && !batch->touched) {
      batch->touched = true;
      touched_.push_back(batch);
    }
  }
  std::vector<Batch*> touched_;
  std::vector<std::unique_ptr<Batch>> finished_;
};

}  // namespace sendgroup

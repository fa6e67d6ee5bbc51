// The io_uring backend: one SQE per member, submitted in as few
// io_uring_enter calls as the ring's room allows.
#pragma once

#include <deque>
#include <vector>

#include "backend.h"
#include "ring.h"

namespace sendgroup {

class UringBackend : public Backend {
 public:
  // Check SetupErrno() before use.
  UringBackend(int fd, unsigned queueDepth, unsigned slots, bool registerBuffers);
  ~UringBackend() override;

  int SetupErrno() const { return ring_.SetupErrno(); }
  // Non-zero once the kernel refused a zero-copy send (ENOMEM under
  // RLIMIT_MEMLOCK, EOPNOTSUPP): this backend then copies.
  int ZeroCopyRefused() const { return zeroCopyRefused_; }
  const RingFeatures& Features() const { return ring_.Features(); }

  int PollFd() const override { return ring_.EventFd(); }
  PollFor Poll() const override { return PollFor::kReadable; }
  void Start(std::unique_ptr<Batch> batch, const uint8_t* payload) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  void OnReady(bool error) override;
  bool Idle() const override { return active_ == 0; }
  void Drain() override;
  bool CanZeroCopy(const Batch& batch) const override;
  BackendInfo Info() const override;

 private:
  bool SendAlone(Batch& batch);
  void Pump();
  bool Cycle();  // true: stopped early with members still queued
  unsigned FillSq();
  void Prep(io_uring_sqe* sqe, Batch& batch, uint32_t i, bool zeroCopy);
  // Whether a failed member goes again (and the sender degrades).
  bool RetryMember(Batch& batch, uint32_t i, bool zeroCopy, int err);
  void Requeue(Batch* batch, uint32_t i);
  void OnCqe(const io_uring_cqe& cqe);
  void CancelInFlight(Batch& batch);
  void FailQueued(Batch& batch);
  void MaybeFinish(Batch* batch);
  void Place(Batch& batch, const uint8_t* payload);

  int fd_;
  Ring ring_;
  std::vector<Batch*> table_;  // index: Batch::id; null when free
  std::vector<uint32_t> freeIds_;
  std::deque<Batch*> queue_;   // batches with members not yet submitted
  unsigned active_ = 0;
  // CQEs the kernel may still post for what we submitted, kept within the CQ
  // so it never overflows: a send costs 1, a zero-copy send 2, a cancel 1.
  unsigned cqeBudget_;
  // Non-zero once the kernel refused a zero-copy send (ENOMEM under
  // RLIMIT_MEMLOCK, EOPNOTSUPP): this backend copies from then on.
  int zeroCopyRefused_ = 0;
  bool clearSocketError_ = false;  // a stale ICMP error is queued for retry
};

}  // namespace sendgroup

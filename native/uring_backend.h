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
  UringBackend(int fd, unsigned errorRoom, unsigned queueDepth, unsigned slots, bool registerBuffers, bool deferTaskrun);
  ~UringBackend() override;

  int SetupErrno() const { return ring_.SetupErrno(); }

  int RingFd() const override { return ring_.EventFd(); }
  bool WantsWritable() const override { return blocked_; }
  void Start(std::unique_ptr<Batch> batch, const uint8_t* payload) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  void OnRingReady() override;
  void OnSocketReady(bool error) override;
  bool Idle() const override { return active_ == 0; }
  void Drain() override;
  bool CanZeroCopy(const Batch& batch) const override;
  BackendInfo Info() const override;

 private:
  bool SendAlone(Batch& batch);
  void Pump();
  bool Cycle();  // true: stopped early with members still queued
  bool SubmitRound();
  unsigned FillSq();
  void Prep(io_uring_sqe* sqe, Batch& batch, uint32_t i, bool zeroCopy);
  void EndRound();
  // Whether a failed member goes again (and the sender degrades).
  bool RetryMember(Batch& batch, uint32_t i, bool zeroCopy, int err);
  void Requeue(Batch* batch, uint32_t i);
  void OnCqe(const io_uring_cqe& cqe);
  void Cancel(Batch& batch);
  // Takes batches whose members all have a result off the send queue.
  void Advance();
  void MaybeFinish(Batch* batch);
  void Place(Batch& batch, const uint8_t* payload);
  unsigned Outstanding() const { return ring_.CqEntries() - cqeBudget_; }

  Ring ring_;
  std::vector<Batch*> table_;  // index: Batch::id; null when free
  std::vector<uint32_t> freeIds_;
  // Calls whose members do not all have a result yet, in call order; only
  // the front one sends (see backend.h on order).
  std::deque<Batch*> queue_;
  unsigned active_ = 0;
  // CQEs the kernel may still post for what we submitted, kept within the CQ
  // so it never overflows: a send costs 1, a zero-copy send 2.
  unsigned cqeBudget_;
  // Non-zero once the kernel refused a zero-copy send (ENOMEM under
  // RLIMIT_MEMLOCK, EOPNOTSUPP): this backend copies from then on.
  int zeroCopyRefused_ = 0;
  // Sends are non-blocking (MSG_DONTWAIT): a full send buffer fails them
  // with EAGAIN and we wait for the socket to turn writable. While it
  // pushes back, a round submits at most window_ SQEs (twice what the last
  // round got through), so a long group does not retry every remaining
  // member after each small gain of room; 0: no limit.
  bool blocked_ = false;
  unsigned window_ = 0;
  unsigned roundAccepted_ = 0, roundAgain_ = 0;
  bool wakePending_ = false;  // a refused submit must be tried again
};

}  // namespace sendgroup

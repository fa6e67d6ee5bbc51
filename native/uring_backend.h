// The io_uring backend: one SQE per member, submitted in as few
// io_uring_enter calls as the ring's room allows.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "backend.h"
#include "ring.h"

namespace sendgroup {

// user_data of a member's send: call id in the high half, member index in
// the low 31 bits, and whether the op was a zero-copy one (which owes a
// notification CQE) in bit 31.
constexpr uint32_t kZeroCopyBit = 1u << 31;
inline uint64_t UserData(uint32_t id, uint32_t member, bool zeroCopy) {
  return (uint64_t(id) << 32) | member | (zeroCopy ? kZeroCopyBit : 0);
}

// A call as this backend tracks it, beside the Batch every backend shares.
struct UringCall {
  explicit UringCall(std::unique_ptr<Batch> b) : batch(std::move(b)) {}
  std::unique_ptr<Batch> batch;
  uint32_t id = 0;          // part of every SQE's user_data
  int slot = -1;            // the registered ring slot holding its bytes
  bool zeroCopy = false;    // asked for, and this ring can
  bool queued = false;      // in the send queue
  uint32_t inflight = 0;    // members handed to the kernel without a result
  int32_t notifsPending = 0;
  std::vector<int> copyForced;     // errno that made a member go by copy; sized on first
  std::vector<uint8_t> failedNotifs;  // notifications of failed zero-copy attempts still to come

  int CopyForcedBy(uint32_t i) const { return copyForced.empty() ? 0 : copyForced[i]; }
  // Marks member i to go by copy from now on; false if it already does.
  bool ForceCopy(uint32_t i, int err);
  bool Finished() const { return batch->AllRecorded() && inflight == 0 && notifsPending <= 0; }
};

struct RingOptions {
  unsigned queueDepth = kDefaultEntries;
  bool registerBuffers = true;
  bool deferTaskrun = true;
};

// errno of io_uring_setup with these options, 0 when a ring can be had.
int IoUringSetupErrno(const RingOptions& options, const SlotPool& pool);

class UringBackend : public Backend {
 public:
  // Calls not yet placed are copied into pool's slots (which the ring
  // registers); the pool outlives the backend. Check SetupErrno() before use.
  UringBackend(int fd, unsigned errorRoom, const RingOptions& options, SlotPool& pool);
  ~UringBackend() override;

  int SetupErrno() const { return ring_.SetupErrno(); }

  int RingFd() const override { return ring_.EventFd(); }
  bool WantsWritable() const override { return blocked_; }
  void Start(std::unique_ptr<Batch> batch, const Sources& sources) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  void OnRingReady() override;
  void OnSocketReady(bool error) override;
  bool Idle() const override { return active_ == 0; }
  void Drain() override;
  BackendInfo Info() const override;

 private:
  bool CanZeroCopy(const Transmit& tx) const;
  // Sends the batch's members without the ring, as far as they go; true
  // when none is left.
  bool SendNow(Batch& batch);
  void Place(UringCall& call, const Sources& sources);
  UringCall* Register(std::unique_ptr<Batch> batch);
  // Submission rounds (uring_submit.cc).
  void Pump();
  bool Cycle();  // true: stopped early with members still queued
  bool SubmitRound();
  void EndRound();
  // The send buffer filled after `accepted` sends: wait for room, then go on
  // in rounds that grow from twice that.
  void PushedBack(unsigned accepted);
  unsigned FillSq();
  // Completions (uring_backend.cc).
  void OnCqe(const io_uring_cqe& cqe);
  void OnNotification(UringCall& call, uint32_t i, int res);
  void OnResult(UringCall& call, uint32_t i, bool zeroCopy, const io_uring_cqe& cqe);
  // Whether a failed member goes again (and the sender degrades).
  bool RetryMember(UringCall& call, uint32_t i, bool zeroCopy, int err);
  void Cancel(UringCall& call);
  // Takes calls whose members all have a result off the send queue.
  void Advance();
  void MaybeFinish(UringCall* call);
  unsigned Outstanding() const { return ring_.CqEntries() - cqeBudget_; }

  SlotPool& pool_;
  Ring ring_;
  std::vector<std::unique_ptr<UringCall>> table_;  // index: UringCall::id; null when free
  std::vector<uint32_t> freeIds_;
  // Calls whose members do not all have a result yet, in call order; only
  // the front one sends (see backend.h on order).
  std::deque<UringCall*> queue_;
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
  // Members a call sends without the ring at most; failed sends after
  // which the rest of it, and the next calls, go by the ring.
  static constexpr uint32_t kDirectMembers = 4096;
  static constexpr unsigned kDirectFailures = 4;
  static constexpr unsigned kDirectPause = 64;
  unsigned directPause_ = 0;
};

}  // namespace sendgroup

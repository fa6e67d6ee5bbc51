// One io_uring instance: setup with the best flags this kernel accepts, an
// eventfd that announces completions, and a slot pool registered as fixed
// buffers when the process may lock that memory.
#pragma once

#include "compat.h"
#include "slot_pool.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sendgroup {

// A Sender's ring unless told otherwise; probe() sets up the same, so what it
// reports is what a default Sender gets.
constexpr unsigned kDefaultEntries = 1024;

// What the kernel and process allowed; each *Errno is 0 when the feature
// works, else the errno of the refusal.
struct RingFeatures {
  int setupErrno = 0;
  unsigned entries = 0;  // SQ entries really set up (less than asked under a small RLIMIT_MEMLOCK)
  bool deferTaskrun = false;
  bool submitAll = false;
  bool sendWithAddr = false;  // IORING_OP_SEND taking a destination (addr2)
  bool sendZc = false;
  bool sendmsgZc = false;
  bool reportUsage = false;
  bool sendmsgZcFixed = false;
  bool fixedBuffers = false;
  int fixedBuffersErrno = 0;
};

class Ring {
 public:
  // Registers pool's slots as fixed buffers when registerBuffers (the pool
  // outlives the ring). deferTaskrun false sets the ring up as a kernel
  // without DEFER_TASKRUN would (tests of the 6.0 path). cqEntries: at
  // least this many CQ entries (a multishot receive posts one per datagram
  // without any SQE; default four per SQ entry). Check SetupErrno().
  Ring(unsigned entries, const SlotPool& pool, bool registerBuffers, bool deferTaskrun, unsigned cqEntries = 0);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  const RingFeatures& Features() const { return features_; }
  int SetupErrno() const { return features_.setupErrno; }
  // Gives the registered slots back to RLIMIT_MEMLOCK now: only once no
  // request uses them (older kernels wait for those).
  void UnregisterBuffers();
  int EventFd() const { return eventFd_; }
  unsigned CqEntries() const { return ring_.cq.ring_entries; }

  io_uring_sqe* GetSqe() { return io_uring_get_sqe(&ring_); }
  // Submits what was prepared; with DEFER_TASKRUN also runs pending task
  // work, so completions are posted before the caller reaps. A negative
  // errno (EAGAIN, EBUSY) leaves the SQEs in the ring for the next try.
  int Submit();
  // SQEs prepared or refused by the last submit, not yet taken by the kernel
  // (without SUBMIT_ALL the kernel stops at the first SQE it cannot take).
  unsigned SqPending() const { return io_uring_sq_ready(&ring_); }
  // Submits, then sleeps until a completion waits (running deferred task
  // work as it comes): for a thread that waits on this ring alone.
  int SubmitAndWait();
  // Runs all deferred task work of up to `requests` requests in flight
  // (DEFER_TASKRUN needs it after each eventfd wake-up, or completions are
  // never posted).
  void RunTaskWork(unsigned requests);
  // Drains the eventfd counter so the next completion wakes the loop again.
  void DrainEventFd();
  // Whether posting completions signals the eventfd (IORING_CQ_EVENTFD_DISABLED).
  void SetEventFdEnabled(bool enabled);
  // Signals the eventfd ourselves: the loop comes back to this ring.
  void Wake();
  bool CqReady() { return io_uring_cq_ready(&ring_) > 0; }
  // The oldest CQE, left in the CQ; nullptr if there is none.
  const io_uring_cqe* PeekCqe() {
    io_uring_cqe* cqe = nullptr;
    return io_uring_peek_cqe(&ring_, &cqe) == 0 ? cqe : nullptr;
  }
  // Waits up to timeoutMs for at least one completion; used only at teardown.
  void WaitCqe(unsigned timeoutMs);
  // A provided-buffer ring (multishot receives pick their buffers there).
  int RegisterBufRing(io_uring_buf_reg* reg) { return io_uring_register_buf_ring(&ring_, reg, 0); }

  template <typename Fn>
  unsigned Reap(Fn&& onCqe) {
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      // Before 5.11 (no EXT_ARG) liburing waits with a timeout (WaitCqe) by
      // submitting a timeout request of its own, whose CQE lands here.
      if (cqe->user_data != LIBURING_UDATA_TIMEOUT) onCqe(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    return seen;
  }

 private:
  bool Setup(unsigned entries, bool deferTaskrun);
  int TrySetup(unsigned entries, bool deferTaskrun);
  unsigned cqAtLeast_ = 0;
  void ProbeOps();
  void RegisterSlots(const SlotPool& pool, bool registerBuffers);
  int ProbeSqeErrno(void (*prep)(io_uring_sqe*));

  io_uring ring_{};
  bool ringUp_ = false;
  bool buffersReleased_ = false;  // UnregisterBuffers; Features() stays as set up
  int eventFd_ = -1;
  RingFeatures features_;
};

}  // namespace sendgroup

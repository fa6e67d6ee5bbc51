#include "ring.h"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sendgroup {

namespace {

// Not ~0: that is LIBURING_UDATA_TIMEOUT, whose CQEs Reap skips.
constexpr uint64_t kProbeUserData = ~uint64_t(0) - 1;
constexpr unsigned kMinEntries = 8;
constexpr unsigned kProbeTries = 100;
// Deferred task-work items one GETEVENTS pass runs since Linux 6.13 (the
// kernel's IO_LOCAL_TW_DEFAULT_MAX).
constexpr unsigned kTaskWorkPerPass = 20;

// Tried best first; a kernel that rejects a flag answers EINVAL and the next
// set is tried, so no kernel version is assumed. DEFER_TASKRUN (6.1) keeps
// completion work on our thread, run only when we ask for events (no IPIs,
// no task work interrupting JavaScript); it needs SINGLE_ISSUER, which holds
// because a ring belongs to one Sender on one thread. SUBMIT_ALL (5.18)
// keeps one member's bad SQE from stopping the rest of a batch.
// COOP_TASKRUN is never asked for: it queues task work without waking the
// task, and ours sleeps in libuv's epoll_wait, not in io_uring_enter, so a
// zero-copy notification could wait there for the next unrelated syscall.
constexpr unsigned kSetupFlags[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

void PrepSendWithAddrProbe(io_uring_sqe* sqe) {
  static sockaddr_in nowhere{};
  io_uring_prep_send(sqe, -1, nullptr, 0, 0);
  io_uring_prep_send_set_addr(sqe, reinterpret_cast<sockaddr*>(&nowhere), sizeof(nowhere));
}

void PrepReportUsageProbe(io_uring_sqe* sqe) {
  io_uring_prep_send_zc(sqe, -1, nullptr, 0, 0, IORING_SEND_ZC_REPORT_USAGE);
}

void PrepSendmsgZcFixedProbe(io_uring_sqe* sqe) {
  static msghdr empty{};
  io_uring_prep_sendmsg_zc_fixed(sqe, -1, &empty, 0, 0);
}

}  // namespace

Ring::Ring(unsigned entries, const SlotPool& pool, bool registerBuffers, bool deferTaskrun, unsigned cqEntries)
    : cqAtLeast_(cqEntries) {
  if (!Setup(entries, deferTaskrun)) return;
  ProbeOps();
  if (features_.setupErrno) return;
  eventFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventFd_ < 0 || io_uring_register_eventfd(&ring_, eventFd_) < 0) {
    features_.setupErrno = errno ? errno : EINVAL;
    return;
  }
  RegisterSlots(pool, registerBuffers);
}

Ring::~Ring() {
  // Closing the ring makes the kernel cancel what is left; callers wait for
  // their in-flight sends first, so no request still reads the slots.
  if (ringUp_) io_uring_queue_exit(&ring_);
  if (eventFd_ >= 0) close(eventFd_);
}

// The kernel gives registered buffers back to the user's RLIMIT_MEMLOCK
// (counted per user, not per process) only in the ring's exit work, which
// runs some time after io_uring_queue_exit: a Sender made right after a
// close() or a probe() was refused its own (fixedBuffers false, measured
// for up to ~0.5 s; with threads most of the next senders' rings).
void Ring::UnregisterBuffers() {
  if (!features_.fixedBuffers || buffersReleased_) return;
  buffersReleased_ = io_uring_unregister_buffers(&ring_) == 0;
}

bool Ring::Setup(unsigned entries, bool deferTaskrun) {
  int ret = TrySetup(entries, deferTaskrun);
  // For unprivileged users the rings count against RLIMIT_MEMLOCK on some
  // kernels (64 KiB in many containers). A smaller ring still sends any
  // group, only in more submissions.
  while (ret == -ENOMEM && entries > kMinEntries) {
    entries /= 2;
    ret = TrySetup(entries, deferTaskrun);
  }
  features_.setupErrno = -ret;
  return ret == 0;
}

int Ring::TrySetup(unsigned entries, bool deferTaskrun) {
  for (unsigned flags : kSetupFlags) {
    if (!deferTaskrun && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
    io_uring_params params{};
    // Zero-copy sends post two CQEs each; a CQ four times the SQ keeps a full
    // submission queue from overflowing it.
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = std::max(entries * 4, cqAtLeast_);
    int ret = io_uring_queue_init_params(entries, &ring_, &params);
    if (ret == 0) {
      ringUp_ = true;
      features_.entries = ring_.sq.ring_entries;
      features_.deferTaskrun = flags & IORING_SETUP_DEFER_TASKRUN;
      features_.submitAll = flags & IORING_SETUP_SUBMIT_ALL;
      return 0;
    }
    if (ret != -EINVAL) return ret;
  }
  return -EINVAL;
}

void Ring::ProbeOps() {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe) {
    features_.sendZc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    features_.sendmsgZc = io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
    io_uring_free_probe(probe);
  }
  // Flags are checked when the SQE is prepared, the file only when it is
  // issued: on fd -1 a known flag fails with EBADF, an unknown one with
  // EINVAL. That tells support apart without sending anything.
  features_.sendWithAddr = ProbeSqeErrno(PrepSendWithAddrProbe) == EBADF;
  if (features_.sendZc) features_.reportUsage = ProbeSqeErrno(PrepReportUsageProbe) == EBADF;
  if (features_.sendmsgZc) features_.sendmsgZcFixed = ProbeSqeErrno(PrepSendmsgZcFixedProbe) == EBADF;
}

int Ring::ProbeSqeErrno(void (*prep)(io_uring_sqe*)) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) return EBUSY;
  prep(sqe);
  io_uring_sqe_set_data64(sqe, kProbeUserData);
  // A refused submit leaves the SQE in the ring: try again while the kernel
  // is only short of something for now, or it would go out with a send.
  int ret;
  for (unsigned tries = 0; (ret = io_uring_submit_and_wait(&ring_, 1)) < 0 && tries < kProbeTries; ++tries) {
    if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) break;
  }
  if (ret < 0) {
    // The SQE is still in the ring and would go out with the first send:
    // this ring cannot be used.
    features_.setupErrno = -ret;
    return -ret;
  }
  int result = 0;
  Reap([&](const io_uring_cqe& cqe) {
    if (cqe.user_data == kProbeUserData && !(cqe.flags & IORING_CQE_F_NOTIF)) result = -cqe.res;
  });
  return result;
}

void Ring::RegisterSlots(const SlotPool& pool, bool registerBuffers) {
  std::vector<iovec> iovs = pool.Iovecs();
  // Not asked (registerBuffers: false, a relay's receive ring): nothing was refused.
  if (!registerBuffers) return;
  if (iovs.empty()) {
    features_.fixedBuffersErrno = pool.MapErrno();
    return;
  }
  // Refused with ENOMEM/EPERM under a small RLIMIT_MEMLOCK: the slots still
  // serve as plain memory and sends simply do not use the fixed-buffer path.
  int ret = io_uring_register_buffers(&ring_, iovs.data(), unsigned(iovs.size()));
  features_.fixedBuffers = ret == 0;
  features_.fixedBuffersErrno = ret < 0 ? -ret : 0;
}

int Ring::Submit() {
  for (;;) {
    int ret = features_.deferTaskrun ? io_uring_submit_and_get_events(&ring_) : io_uring_submit(&ring_);
    if (ret != -EINTR) return ret;
  }
}

int Ring::SubmitAndWait() {
  for (;;) {
    int ret = io_uring_submit_and_wait(&ring_, 1);
    if (ret != -EINTR) return ret;
  }
}

void Ring::RunTaskWork(unsigned requests) {
  if (!features_.deferTaskrun) return;
  // Since 6.13 one GETEVENTS pass runs at most IO_LOCAL_TW_DEFAULT_MAX (20)
  // deferred task-work items and parks the rest on a retry list, and the
  // eventfd is signalled only when the work list goes from empty to
  // non-empty: what stays parked never signals, and a zero-copy
  // notification waiting there would wait for good. A request has at most
  // one item queued at a time, so requests / 20 + 1 passes run everything;
  // a pass with nothing to run costs ~0.1 us. (One pass asked for a whole
  // CQ's worth of completions with a zero timeout runs everything too, but
  // when fewer CQEs result it sleeps on a zero-length timer: 4 us a call,
  // measured here, on every wake-up.) Before 6.13 one pass ran everything,
  // so this holds on every kernel with DEFER_TASKRUN (6.1+).
  for (unsigned pass = 0; pass <= requests / kTaskWorkPerPass; ++pass) io_uring_get_events(&ring_);
}

void Ring::DrainEventFd() {
  // One read returns the whole counter and resets it to zero.
  eventfd_t value;
  eventfd_read(eventFd_, &value);
}

void Ring::SetEventFdEnabled(bool enabled) {
  io_uring_cq_eventfd_toggle(&ring_, enabled);
  // The kernel reads the flag after it posts a CQE or queues task work; we
  // read the CQ (or ask for events) after writing it. Without a full fence
  // both reads could see the old state and a completion would neither be
  // seen by us nor signalled.
  if (enabled) __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void Ring::Wake() { eventfd_write(eventFd_, 1); }

void Ring::WaitCqe(unsigned timeoutMs) {
  __kernel_timespec ts{timeoutMs / 1000, long(timeoutMs % 1000) * 1000000L};
  io_uring_cqe* cqe;
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

}  // namespace sendgroup

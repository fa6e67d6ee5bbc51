#include "uring_backend.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace sendgroup {

namespace {

// user_data of a member's send: batch id in the high half, member index in
// the low 31 bits, and whether the op was a zero-copy one (which owes a
// notification CQE) in bit 31.
constexpr uint32_t kZeroCopyBit = 1u << 31;
constexpr unsigned kMaxSubmitPerPump = 4096;
// Teardown waits this long in all for zero-copy notifications (a slow link
// holds pages until they are on the wire).
constexpr unsigned kDrainWaitMs = 50;
constexpr unsigned kDrainRounds = 40;
// The smallest round while the send buffer pushes back.
constexpr unsigned kMinWindow = 8;

uint64_t UserData(uint32_t id, uint32_t member, bool zeroCopy) {
  return (uint64_t(id) << 32) | member | (zeroCopy ? kZeroCopyBit : 0);
}

// How the kernel refuses zero-copy itself (rather than the datagram): pinning
// user pages counts against RLIMIT_MEMLOCK (ENOMEM), or the socket or
// protocol lacks it (EOPNOTSUPP).
bool RefusesZeroCopy(int err) { return err == ENOMEM || err == EOPNOTSUPP; }

}  // namespace

UringBackend::UringBackend(int fd, unsigned errorRoom, unsigned queueDepth, unsigned slots, bool registerBuffers,
                           bool deferTaskrun)
    : Backend(fd, errorRoom), ring_(queueDepth, slots, kSlotSize, registerBuffers, deferTaskrun), cqeBudget_(0) {
  if (ring_.SetupErrno() == 0) cqeBudget_ = ring_.CqEntries();
}

UringBackend::~UringBackend() {
  // Batches still owned by the kernel after the bounded Drain() are leaked
  // on purpose: freeing them could let a late send read reused memory.
  for (Batch*& batch : table_) batch = nullptr;
}

bool UringBackend::CanZeroCopy(const Batch& batch) const {
  if (zeroCopyRefused_) return false;
  const RingFeatures& f = ring_.Features();
  bool plain = !batch.HasExtras() && batch.segmentSize == 0;
  return plain ? f.sendZc : f.sendmsgZc;
}

void UringBackend::Place(Batch& batch, const uint8_t* payload) {
  size_t length = batch.CopyLength();
  if (length <= ring_.SlotSize()) batch.slot = ring_.AcquireSlot();
  if (batch.slot >= 0) {
    batch.Place(ring_.SlotData(batch.slot), payload);
  } else {
    batch.heapCopy.resize(length ? length : 1);
    batch.Place(batch.heapCopy.data(), payload);
  }
}

void UringBackend::Start(std::unique_ptr<Batch> owned, const uint8_t* payload) {
  Place(*owned, payload);
  owned->zeroCopy = owned->zeroCopy && CanZeroCopy(*owned);
  owned->state.assign(owned->Count(), MemberState::kQueued);
  // Only with no earlier call still sending: it must not overtake one.
  if (owned->Count() == 1 && !owned->zeroCopy && queue_.empty() && SendAlone(*owned)) {
    if (owned->slot >= 0) ring_.ReleaseSlot(owned->slot);
    owned->slot = -1;
    Touch(owned.get());
    finished_.push_back(std::move(owned));
    return;
  }
  Batch* batch = owned.release();
  if (freeIds_.empty()) {
    batch->id = uint32_t(table_.size());
    table_.push_back(batch);
  } else {
    batch->id = freeIds_.back();
    freeIds_.pop_back();
    table_[batch->id] = batch;
  }
  ++active_;
  batch->queued = true;
  queue_.push_back(batch);
  Pump();
}

// A lone member in copy mode: io_uring has nothing to batch, and one
// sendmsg(2) costs less CPU than an io_uring_enter round trip (bench/, n1).
// False when the send buffer is full: the ring path then waits for room.
bool UringBackend::SendAlone(Batch& batch) {
  if (int err = batch.targets[0].err) {
    batch.Record(0, -err);
    return true;
  }
  msghdr msg;
  iovec iov[Batch::kMaxIov];
  batch.FillMessage(0, msg, iov);
  for (;;) {
    errors_.StartRound();
    ssize_t sent = sendmsg(fd_, &msg, MSG_DONTWAIT);
    if (sent >= 0) {
      batch.Record(0, int(sent));
      return true;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return false;
    if (err == EINTR || (errors_.Stale(err) && batch.TakeStaleRetry(0))) continue;
    batch.Record(0, -err);
    return true;
  }
}

void UringBackend::Pump() {
  // Completions of our own submissions are reaped right here, so they need
  // no eventfd wake-up (which would cost an epoll return, a read and an
  // io_uring_enter per call for nothing).
  ring_.SetEventFdEnabled(false);
  bool more = Cycle();
  if (active_ == 0 && !wakePending_) return;
  // What is still in the kernel must wake us from now on. Task work queued
  // while signalling was off did not signal: run it with signalling on.
  ring_.SetEventFdEnabled(true);
  if (Outstanding()) ring_.RunTaskWork();
  // CQEs posted while signalling was off, members we stopped submitting to
  // let JavaScript run, a submit to try again: come back through the loop.
  if (more || wakePending_ || ring_.CqReady()) ring_.Wake();
  wakePending_ = false;
}

// Submits what fits and reaps what completed until neither makes progress
// or kMaxSubmitPerPump SQEs went out (a huge group, or one trickling out
// through a full send buffer, must not hold the JavaScript thread). Returns
// whether it stopped with members still queued.
bool UringBackend::Cycle() {
  unsigned submitted = 0;
  for (;;) {
    unsigned prepared = blocked_ ? 0 : FillSq();
    unsigned pending = ring_.SqPending();
    if (pending && !SubmitRound()) return false;
    submitted += prepared;
    unsigned reaped = ring_.Reap([this](const io_uring_cqe& cqe) { OnCqe(cqe); });
    if (pending) EndRound();
    Advance();
    if (blocked_) return false;
    if (submitted >= kMaxSubmitPerPump) return !queue_.empty();
    if (!reaped && !pending) return false;
  }
}

// With MSG_DONTWAIT every send of the round runs inside this call, on this
// thread: the ICMP errors that could have failed one of them are the ones
// queued after this point (see errqueue.h).
bool UringBackend::SubmitRound() {
  errors_.StartRound();
  roundAccepted_ = roundAgain_ = 0;
  int ret = ring_.Submit();
  if (ret >= 0) return true;
  // EAGAIN/EBUSY: the kernel is short of memory or CQ room. The SQEs stay
  // in the ring; with nothing else in flight no completion would bring us
  // back, so come back through the loop.
  wakePending_ = true;
  return false;
}

void UringBackend::EndRound() {
  if (roundAgain_) {
    blocked_ = true;
    window_ = std::max(kMinWindow, 2 * roundAccepted_);
  } else if (window_) {
    window_ = window_ * 2 >= ring_.Features().entries ? 0 : window_ * 2;
  }
}

unsigned UringBackend::FillSq() {
  if (queue_.empty()) return 0;
  Batch* batch = queue_.front();
  unsigned prepared = 0;
  unsigned limit = window_ ? std::min(window_, roundLimit_) : roundLimit_;
  while (batch->HasQueued() && prepared < limit) {
    uint32_t i = batch->PeekQueued();
    if (int err = batch->targets[i].err) {
      batch->PopQueued();
      batch->Record(i, -err);
      Touch(batch);
      continue;
    }
    bool zeroCopy = batch->zeroCopy && zeroCopyRefused_ == 0 && !batch->CopyForcedBy(i);
    unsigned cost = zeroCopy ? 2 : 1;
    if (cqeBudget_ < cost) break;
    io_uring_sqe* sqe = ring_.GetSqe();
    if (!sqe) break;
    Prep(sqe, *batch, i, zeroCopy);
    io_uring_sqe_set_data64(sqe, UserData(batch->id, i, zeroCopy));
    batch->PopQueued();
    batch->state[i] = zeroCopy ? MemberState::kInFlightZeroCopy : MemberState::kInFlight;
    ++batch->inflight;
    cqeBudget_ -= cost;
    ++prepared;
  }
  return prepared;
}

void UringBackend::Prep(io_uring_sqe* sqe, Batch& batch, uint32_t i, bool zeroCopy) {
  const RingFeatures& f = ring_.Features();
  bool fixed = batch.slot >= 0 && f.fixedBuffers;
  unsigned zcFlags = f.reportUsage ? IORING_SEND_ZC_REPORT_USAGE : 0;
  bool plain = !batch.HasExtras() && batch.segmentSize == 0;
  const Target& t = batch.targets[i];
  // MSG_DONTWAIT makes io_uring complete a send that finds the buffer full
  // with EAGAIN (REQ_F_NOWAIT) instead of arming a poll: poll-armed sends
  // wake in no particular order (the socket's wait queue is LIFO), which
  // would reorder a member's datagrams, and they run as deferred task work.
  if (plain && !zeroCopy && f.sendWithAddr) {
    // sendto(): no msghdr to build, copy in and import per member.
    io_uring_prep_send(sqe, fd_, batch.payload, batch.payloadLength, MSG_DONTWAIT);
    io_uring_prep_send_set_addr(sqe, &t.sa, uint16_t(t.len));
    return;
  }
  if (plain && zeroCopy) {
    if (fixed) {
      io_uring_prep_send_zc_fixed(sqe, fd_, batch.payload, batch.payloadLength, MSG_DONTWAIT, zcFlags,
                                  unsigned(batch.slot));
    } else {
      io_uring_prep_send_zc(sqe, fd_, batch.payload, batch.payloadLength, MSG_DONTWAIT, zcFlags);
    }
    io_uring_prep_send_set_addr(sqe, &t.sa, uint16_t(t.len));
    return;
  }
  msghdr* msg = batch.Message(i);
  if (!zeroCopy) {
    io_uring_prep_sendmsg(sqe, fd_, msg, MSG_DONTWAIT);
    return;
  }
  io_uring_prep_sendmsg_zc(sqe, fd_, msg, MSG_DONTWAIT);
  sqe->ioprio |= zcFlags;
  // Registered vectored buffers (6.15): every iovec lies in the batch's slot,
  // so the kernel skips pinning the pages on each send.
  if (fixed && f.sendmsgZcFixed && msg->msg_iovlen > 0) {
    sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
    sqe->buf_index = uint16_t(batch.slot);
  }
}

void UringBackend::OnCqe(const io_uring_cqe& cqe) {
  ++cqeBudget_;
  Batch* batch = table_[uint32_t(cqe.user_data >> 32)];
  uint32_t i = uint32_t(cqe.user_data) & ~kZeroCopyBit;
  bool zeroCopy = uint32_t(cqe.user_data) & kZeroCopyBit;
  if (cqe.flags & IORING_CQE_F_NOTIF) {
    // The kernel no longer reads this send's pages. A failed attempt posts
    // its notification right after its result, before any retry of it.
    --batch->notifsPending;
    if (!batch->failedNotifs.empty() && batch->failedNotifs[i]) --batch->failedNotifs[i];
    else if (uint32_t(cqe.res) & IORING_NOTIF_USAGE_ZC_COPIED) batch->zcCopied = true;
    MaybeFinish(batch);
    return;
  }
  if (cqe.flags & IORING_CQE_F_MORE) {
    ++batch->notifsPending;
    if (cqe.res < 0) {
      if (batch->failedNotifs.empty()) batch->failedNotifs.resize(batch->Count());
      ++batch->failedNotifs[i];
    }
  } else if (zeroCopy) {
    ++cqeBudget_;  // the notification we reserved room for will not come
  }
  --batch->inflight;
  int res = cqe.res;
  // Not sent because the call was aborted while it waited for room.
  if (res == -EAGAIN && batch->aborted) res = -ECANCELED;
  if (res == -EAGAIN) ++roundAgain_;
  else if (res >= 0) ++roundAccepted_;
  if (res < 0 && RetryMember(*batch, i, zeroCopy, -res)) {
    Requeue(batch, i);
    return;
  }
  if (res >= 0 && zeroCopy) batch->zcAccepted = true;
  if (res >= 0 && !zeroCopy && batch->zeroCopy) {
    // Zero-copy was asked for and this member went by copy: a forced retry,
    // or the sender degraded. After EINVAL, that the copy went through means
    // zero-copy itself was refused, not the datagram.
    batch->zcCopied = true;
    if (batch->CopyForcedBy(i) == EINVAL && zeroCopyRefused_ == 0) zeroCopyRefused_ = EINVAL;
  }
  batch->Record(i, res);
  Touch(batch);
  MaybeFinish(batch);
}

bool UringBackend::RetryMember(Batch& batch, uint32_t i, bool zeroCopy, int err) {
  if (batch.aborted) return false;
  // The send buffer is full: this member goes again once there is room.
  if (err == EAGAIN) return true;
  // Before anything else: a stale ICMP error says nothing about this send
  // (EOPNOTSUPP from one must not turn zero-copy off for good).
  if (errors_.Stale(err)) return batch.TakeStaleRetry(i);
  if (zeroCopy && RefusesZeroCopy(err)) {
    // Degrade this sender to copy sends for good; the member goes again.
    zeroCopyRefused_ = err;
    return true;
  }
  // EINVAL may be the datagram's (port 0) or zero-copy's (a kernel without
  // some SEND_ZC detail): a copy attempt tells which. EMSGSIZE from a
  // zero-copy send can be zero-copy's own limit (a datagram over more pages
  // than an skb holds fragments) where a copy fits.
  if (zeroCopy && (err == EINVAL || err == EMSGSIZE)) return batch.ForceCopy(i, err);
  return false;
}

void UringBackend::Requeue(Batch* batch, uint32_t i) {
  batch->state[i] = MemberState::kQueued;
  batch->retries.push_back(i);
}

void UringBackend::Advance() {
  while (!queue_.empty()) {
    Batch* batch = queue_.front();
    if (batch->HasQueued() || batch->inflight) return;
    queue_.pop_front();
    batch->queued = false;
    MaybeFinish(batch);
  }
}

void UringBackend::Cancel(Batch& batch) {
  batch.CancelQueued();
  Touch(&batch);
  // Sends already submitted finish on their own (they never wait), so once
  // none is left the call no longer holds back the ones after it.
  if (batch.queued && batch.inflight == 0) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), &batch));
    batch.queued = false;
  }
  MaybeFinish(&batch);
}

void UringBackend::Abort(uint32_t token) {
  for (Batch* batch : table_) {
    if (batch && batch->token == token) {
      Cancel(*batch);
      break;
    }
  }
  if (queue_.empty()) blocked_ = false;
  Pump();
}

void UringBackend::AbortAll() {
  // Cancel may finish and unlist a batch: walk a copy.
  std::vector<Batch*> live;
  for (Batch* batch : table_) {
    if (batch) live.push_back(batch);
  }
  for (Batch* batch : live) Cancel(*batch);
  blocked_ = false;
  Pump();
}

void UringBackend::OnRingReady() {
  ring_.DrainEventFd();
  ring_.RunTaskWork();
  Pump();
}

void UringBackend::OnSocketReady(bool error) {
  if (error) errors_.Drain();
  if (!blocked_) return;
  blocked_ = false;
  Pump();
}

BackendInfo UringBackend::Info() const {
  BackendInfo info;
  info.name = "io_uring";
  info.ring = ring_.Features();
  info.zeroCopyRefused = zeroCopyRefused_;
  return info;
}

void UringBackend::Drain() {
  if (ring_.SetupErrno() != 0 || active_ == 0) return;
  AbortAll();
  for (unsigned round = 0; active_ && round < kDrainRounds; ++round) {
    ring_.WaitCqe(kDrainWaitMs);
    ring_.RunTaskWork();
    ring_.Reap([this](const io_uring_cqe& cqe) { OnCqe(cqe); });
    Advance();
  }
}

void UringBackend::MaybeFinish(Batch* batch) {
  if (batch->queued || !batch->Finished() || table_[batch->id] != batch) return;
  if (batch->slot >= 0) ring_.ReleaseSlot(batch->slot);
  batch->slot = -1;
  table_[batch->id] = nullptr;
  freeIds_.push_back(batch->id);
  --active_;
  finished_.emplace_back(batch);
}

}  // namespace sendgroup

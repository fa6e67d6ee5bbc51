#include "uring_backend.h"

#include <sys/socket.h>

#include <cerrno>

namespace sendgroup {

namespace {

// user_data of a member's send: batch id in the high half, member index in
// the low 31 bits, and whether the op was a zero-copy one (which owes a
// notification CQE) in bit 31. Cancels carry a tag no send can have.
constexpr uint64_t kCancelUserData = ~uint64_t(0);
constexpr uint32_t kZeroCopyBit = 1u << 31;
constexpr unsigned kDrainWaitMs = 50;
constexpr unsigned kMaxSubmitPerPump = 4096;
constexpr unsigned kDrainRounds = 40;

uint64_t UserData(uint32_t id, uint32_t member, bool zeroCopy) {
  return (uint64_t(id) << 32) | member | (zeroCopy ? kZeroCopyBit : 0);
}

// How the kernel refuses zero-copy itself (rather than the datagram): pinning
// user pages counts against RLIMIT_MEMLOCK (ENOMEM), or the socket or
// protocol lacks it (EOPNOTSUPP).
bool RefusesZeroCopy(int err) { return err == ENOMEM || err == EOPNOTSUPP; }

}  // namespace

UringBackend::UringBackend(int fd, unsigned queueDepth, unsigned slots, bool registerBuffers)
    : fd_(fd), ring_(queueDepth, slots, kSlotSize, registerBuffers), cqeBudget_(0) {
  if (ring_.SetupErrno() == 0) cqeBudget_ = ring_.CqEntries();
}

UringBackend::~UringBackend() {
  Drain();
  // Batches still owned by the kernel after a bounded drain are leaked on
  // purpose: freeing them could let a late send read reused memory.
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
  // Only with nothing in flight: it must not overtake an earlier call's sends.
  if (owned->Count() == 1 && !owned->zeroCopy && active_ == 0 && SendAlone(*owned)) {
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
// False when the send buffer is full: the ring then waits for room.
bool UringBackend::SendAlone(Batch& batch) {
  if (int err = batch.targets[0].err) {
    batch.Record(0, -err);
    return true;
  }
  msghdr msg;
  iovec iov[Batch::kMaxIov];
  batch.FillMessage(0, msg, iov);
  for (;;) {
    ssize_t sent = sendmsg(fd_, &msg, MSG_DONTWAIT);
    if (sent >= 0) {
      batch.Record(0, int(sent));
      return true;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return false;
    if (err == EINTR || batch.RetryAfterStaleError(0, err)) continue;
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
  if (active_ == 0) return;
  // What is still in the kernel must wake us from now on. Task work queued
  // while signalling was off did not signal: run it with signalling on.
  ring_.SetEventFdEnabled(true);
  ring_.GetEvents();
  // CQEs posted while signalling was off, or members we stopped submitting
  // to let JavaScript run: come back through the loop.
  if (more || ring_.CqReady()) ring_.Wake();
}

// Submits what fits and reaps what completed until neither makes progress
// or kMaxSubmitPerPump SQEs went out (a huge group, or one trickling out
// through a full send buffer, must not hold the JavaScript thread). Returns
// whether it stopped with members still queued.
bool UringBackend::Cycle() {
  unsigned submitted = 0;
  for (;;) {
    unsigned prepared = FillSq();
    // A failed submit leaves the SQEs in the ring; the next wake-up retries.
    if (prepared && ring_.Submit() < 0) return false;
    submitted += prepared;
    unsigned reaped = ring_.Reap([this](const io_uring_cqe& cqe) { OnCqe(cqe); });
    if (submitted >= kMaxSubmitPerPump) return !queue_.empty();
    // Go round again while completions freed CQ room or the SQ filled up
    // with members still waiting.
    if (!reaped && !(prepared && !queue_.empty())) return false;
  }
}

unsigned UringBackend::FillSq() {
  unsigned prepared = 0;
  if (clearSocketError_) {
    int err;
    socklen_t length = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &length);
    clearSocketError_ = false;
  }
  while (!queue_.empty()) {
    Batch* batch = queue_.front();
    while (batch->HasQueued()) {
      uint32_t i = batch->PeekQueued();
      if (int err = batch->targets[i].err) {
        batch->PopQueued();
        batch->Record(i, -err);
        Touch(batch);
        continue;
      }
      bool zeroCopy = batch->zeroCopy && zeroCopyRefused_ == 0 && !batch->CopyForcedBy(i);
      unsigned cost = zeroCopy ? 2 : 1;
      if (cqeBudget_ < cost) return prepared;
      io_uring_sqe* sqe = ring_.GetSqe();
      if (!sqe) return prepared;
      Prep(sqe, *batch, i, zeroCopy);
      io_uring_sqe_set_data64(sqe, UserData(batch->id, i, zeroCopy));
      batch->PopQueued();
      batch->state[i] = zeroCopy ? MemberState::kInFlightZeroCopy : MemberState::kInFlight;
      ++batch->inflight;
      cqeBudget_ -= cost;
      ++prepared;
    }
    queue_.pop_front();
    batch->queued = false;
    MaybeFinish(batch);
  }
  return prepared;
}

void UringBackend::Prep(io_uring_sqe* sqe, Batch& batch, uint32_t i, bool zeroCopy) {
  const RingFeatures& f = ring_.Features();
  bool fixed = batch.slot >= 0 && f.fixedBuffers;
  unsigned zcFlags = f.reportUsage ? IORING_SEND_ZC_REPORT_USAGE : 0;
  bool plain = !batch.HasExtras() && batch.segmentSize == 0;
  const Target& t = batch.targets[i];
  if (plain && !zeroCopy && f.sendWithAddr) {
    // sendto(): no msghdr to build, copy in and import per member.
    io_uring_prep_send(sqe, fd_, batch.payload, batch.payloadLength, 0);
    io_uring_prep_send_set_addr(sqe, &t.sa, uint16_t(t.len));
    return;
  }
  if (plain && zeroCopy) {
    if (fixed) {
      io_uring_prep_send_zc_fixed(sqe, fd_, batch.payload, batch.payloadLength, 0, zcFlags, unsigned(batch.slot));
    } else {
      io_uring_prep_send_zc(sqe, fd_, batch.payload, batch.payloadLength, 0, zcFlags);
    }
    io_uring_prep_send_set_addr(sqe, &t.sa, uint16_t(t.len));
    return;
  }
  msghdr* msg = batch.Message(i);
  if (!zeroCopy) {
    io_uring_prep_sendmsg(sqe, fd_, msg, 0);
    return;
  }
  io_uring_prep_sendmsg_zc(sqe, fd_, msg, 0);
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
  if (cqe.user_data == kCancelUserData) return;
  Batch* batch = table_[uint32_t(cqe.user_data >> 32)];
  uint32_t i = uint32_t(cqe.user_data) & ~kZeroCopyBit;
  bool zeroCopy = uint32_t(cqe.user_data) & kZeroCopyBit;
  if (cqe.flags & IORING_CQE_F_NOTIF) {
    // The kernel no longer reads this send's pages.
    --batch->notifsPending;
    // Without REPORT_USAGE the kernel cannot say; zero-copy is then assumed.
    if (uint32_t(cqe.res) & IORING_NOTIF_USAGE_ZC_COPIED) batch->zcCopied = true;
    else batch->zcSent = true;
    MaybeFinish(batch);
    return;
  }
  if (cqe.flags & IORING_CQE_F_MORE) {
    ++batch->notifsPending;
  } else if (zeroCopy) {
    ++cqeBudget_;  // the notification we reserved room for will not come
  }
  --batch->inflight;
  if (cqe.res < 0 && !batch->aborted && RetryMember(*batch, i, zeroCopy, -cqe.res)) {
    Requeue(batch, i);
    return;
  }
  if (cqe.res >= 0 && !zeroCopy && batch->zeroCopy) {
    // Zero-copy was asked for and this member went by copy: a forced retry,
    // or the sender degraded. After EINVAL, that the copy went through means
    // zero-copy itself was refused, not the datagram.
    batch->zcCopied = true;
    if (batch->CopyForcedBy(i) == EINVAL && zeroCopyRefused_ == 0) zeroCopyRefused_ = EINVAL;
  }
  batch->Record(i, cqe.res);
  Touch(batch);
  MaybeFinish(batch);
}

bool UringBackend::RetryMember(Batch& batch, uint32_t i, bool zeroCopy, int err) {
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
  if (!batch.RetryAfterStaleError(i, err)) return false;
  // The next send would pick up the next stale error: clear it first.
  clearSocketError_ = true;
  return true;
}

void UringBackend::Requeue(Batch* batch, uint32_t i) {
  batch->state[i] = MemberState::kQueued;
  batch->retries.push_back(i);
  if (!batch->queued) {
    batch->queued = true;
    queue_.push_back(batch);
  }
}

void UringBackend::FailQueued(Batch& batch) {
  batch.CancelQueued();
  Touch(&batch);
  if (batch.queued) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == &batch) {
        queue_.erase(it);
        break;
      }
    }
    batch.queued = false;
  }
}

void UringBackend::CancelInFlight(Batch& batch) {
  for (uint32_t i = 0; i < batch.next && batch.inflight; ++i) {
    MemberState state = batch.state[i];
    if (state != MemberState::kInFlight && state != MemberState::kInFlightZeroCopy) continue;
    io_uring_sqe* sqe = cqeBudget_ ? ring_.GetSqe() : nullptr;
    if (!sqe) return;  // no room: these sends finish on their own
    io_uring_prep_cancel64(sqe, UserData(batch.id, i, state == MemberState::kInFlightZeroCopy), 0);
    io_uring_sqe_set_data64(sqe, kCancelUserData);
    --cqeBudget_;
  }
}

void UringBackend::Abort(uint32_t token) {
  for (Batch* batch : table_) {
    if (!batch || batch->token != token) continue;
    FailQueued(*batch);
    CancelInFlight(*batch);
    ring_.Submit();
    MaybeFinish(batch);
    Pump();
    return;
  }
}

void UringBackend::AbortAll() {
  for (Batch* batch : table_) {
    if (!batch) continue;
    FailQueued(*batch);
    CancelInFlight(*batch);
  }
  ring_.Submit();
  // Finishing may free table entries, so collect first.
  std::vector<Batch*> live;
  for (Batch* batch : table_) if (batch) live.push_back(batch);
  for (Batch* batch : live) MaybeFinish(batch);
  Pump();
}

void UringBackend::OnReady(bool /*error*/) {  // an eventfd never errs
  ring_.DrainEventFd();
  ring_.GetEvents();
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
    Pump();
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

#include "uring_backend.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>


namespace sendgroup {

namespace {

// Teardown waits this long in all for zero-copy notifications (a slow link
// holds pages until they are on the wire).
constexpr unsigned kDrainWaitMs = 50;
constexpr unsigned kDrainRounds = 40;
// How the kernel refuses zero-copy itself (rather than the datagram): pinning
// user pages counts against RLIMIT_MEMLOCK (ENOMEM), or the socket or
// protocol lacks it (EOPNOTSUPP).
bool RefusesZeroCopy(int err) { return err == ENOMEM || err == EOPNOTSUPP; }

}  // namespace

int IoUringSetupErrno(const RingOptions& options, const SlotPool& pool) {
  // Small and unregistered: only whether the kernel and process allow one.
  return Ring(8, pool, false, options.deferTaskrun).SetupErrno();
}

bool UringCall::ForceCopy(uint32_t i, int err) {
  if (copyForced.empty()) copyForced.resize(batch->tx.Count());
  if (copyForced[i]) return false;
  copyForced[i] = err;
  return true;
}

UringBackend::UringBackend(int fd, unsigned errorRoom, const RingOptions& options, SlotPool& pool)
    : Backend(fd, errorRoom), pool_(pool), ring_(options.queueDepth, pool, options.registerBuffers, options.deferTaskrun),
      cqeBudget_(0) {
  if (ring_.SetupErrno() == 0) cqeBudget_ = ring_.CqEntries();
}

UringBackend::~UringBackend() {
  if (Idle()) ring_.UnregisterBuffers();
  // Calls still owned by the kernel after the bounded Drain() are leaked on
  // purpose: freeing them could let a late send read reused memory.
  for (auto& call : table_) {
    if (call) call.release()->batch.release();
  }
}

bool UringBackend::CanZeroCopy(const Transmit& tx) const {
  if (zeroCopyRefused_) return false;
  const RingFeatures& f = ring_.Features();
  return tx.Plain() ? f.sendZc : f.sendmsgZc;
}

void UringBackend::Place(UringCall& call, const Sources& sources) {
  if (call.batch->Placed()) return;  // a part of a call: in its shared copy
  if (call.batch->tx.CopyLength() <= pool_.SlotSize()) call.slot = pool_.Acquire();
  if (call.slot >= 0) call.batch->Place(pool_.Data(call.slot), sources);
  else call.batch->PlaceOnHeap(sources);
}

void UringBackend::Start(std::unique_ptr<Batch> batch, const Sources& sources) {
  bool zeroCopy = batch->tx.zeroCopy && CanZeroCopy(batch->tx);
  // Copy sends go out at once with sendmsg/sendmmsg, which cost the kernel
  // less than ring requests (a request and a CQE each; bench/: c-sendmmsg
  // 0.87-0.92x c-uring's CPU per datagram at 10 to 1,000 members); only
  // with no earlier call still sending, which they must not overtake. The
  // ring takes what they leave: members after a full send buffer or a
  // failure.
  bool now = !zeroCopy && queue_.empty();
  // While the call runs the caller's bytes serve, where each send is one
  // buffer of them (per-member parts are copied together first).
  bool borrowed = now && !batch->Placed() && (batch->tx.Count() == 1 || !batch->tx.HasExtras());
  if (borrowed) batch->Borrow(sources);
  // Tried before it is placed: borrowed, or placed already (a relay's
  // datagram, a part of a call split across threads).
  bool tried = borrowed || (now && batch->Placed());
  if (tried && SendNow(*batch)) {
    NoteProgress(batch.get());
    finished_.push_back(std::move(batch));
    return;
  }
  UringCall* call = Register(std::move(batch));
  call->zeroCopy = zeroCopy;
  Place(*call, sources);
  if (now && !tried && SendNow(*call->batch)) {
    NoteProgress(call->batch.get());
    MaybeFinish(call);
    return;
  }
  call->queued = true;
  queue_.push_back(call);
  Pump();
}

bool UringBackend::SendNow(Batch& batch) {
  if (batch.tx.Count() == 1) {
    if (SendDirect(batch)) return true;
    PushedBack(0);
    return false;
  }
  // A failure stops a sendmmsg and costs a system call of its own: where
  // sends keep failing (a qdisc dropping every datagram), the ring, which
  // takes a failure per request, goes first for a while.
  if (directPause_) {
    --directPause_;
    return false;
  }
  // Bounded: a huge group must not hold the thread (the ring bounds what it
  // then takes of the call the same way).
  unsigned failures = 0;
  while (batch.HasQueued() && batch.Recorded() < kDirectMembers) {
    Chunk chunk = SendChunk(batch);
    if (chunk == Chunk::kFull) {
      // Not a ring round that fails every send with EAGAIN next.
      PushedBack(batch.Recorded());
      break;
    }
    if (chunk == Chunk::kFailed && ++failures == kDirectFailures) {
      directPause_ = kDirectPause;
      break;
    }
  }
  // The rest goes by the ring, from bytes placed anew.
  Forget(&batch);
  return !batch.HasQueued();
}

UringCall* UringBackend::Register(std::unique_ptr<Batch> batch) {
  uint32_t id = uint32_t(table_.size());
  if (freeIds_.empty()) {
    table_.emplace_back();
  } else {
    id = freeIds_.back();
    freeIds_.pop_back();
  }
  table_[id] = std::make_unique<UringCall>(std::move(batch));
  table_[id]->id = id;
  ++active_;
  return table_[id].get();
}

void UringBackend::OnCqe(const io_uring_cqe& cqe) {
  ++cqeBudget_;
  UringCall& call = *table_[uint32_t(cqe.user_data >> 32)];
  uint32_t i = uint32_t(cqe.user_data) & ~kZeroCopyBit;
  bool zeroCopy = uint32_t(cqe.user_data) & kZeroCopyBit;
  if (cqe.flags & IORING_CQE_F_NOTIF) OnNotification(call, i, cqe.res);
  else OnResult(call, i, zeroCopy, cqe);
  MaybeFinish(&call);
}

// The kernel no longer reads this send's pages. A failed attempt posts its
// notification right after its result, before any retry of it.
void UringBackend::OnNotification(UringCall& call, uint32_t i, int res) {
  --call.notifsPending;
  if (!call.failedNotifs.empty() && call.failedNotifs[i]) --call.failedNotifs[i];
  else if (uint32_t(res) & IORING_NOTIF_USAGE_ZC_COPIED) call.batch->zcCopied = true;
}

void UringBackend::OnResult(UringCall& call, uint32_t i, bool zeroCopy, const io_uring_cqe& cqe) {
  Batch& batch = *call.batch;
  int res = cqe.res;
  if (cqe.flags & IORING_CQE_F_MORE) {
    ++call.notifsPending;
    if (res < 0) {
      if (call.failedNotifs.empty()) call.failedNotifs.resize(batch.tx.Count());
      ++call.failedNotifs[i];
    }
  } else if (zeroCopy) {
    ++cqeBudget_;  // the notification we reserved room for will not come
  }
  --call.inflight;
  if (res < 0 && NoRoom(batch, i, -res)) res = -EAGAIN;
  // Not sent because the call was aborted while it waited for room.
  if (res == -EAGAIN && batch.Aborted()) res = -ECANCELED;
  if (res == -EAGAIN) ++roundAgain_;
  else if (res >= 0) ++roundAccepted_;
  if (res < 0 && RetryMember(call, i, zeroCopy, -res)) {
    batch.Requeue(i);
    return;
  }
  if (res >= 0 && zeroCopy) batch.zcAccepted = true;
  if (res >= 0 && !zeroCopy && call.zeroCopy) {
    // Zero-copy was asked for and this member went by copy: a forced retry,
    // or the sender degraded. After EINVAL, that the copy went through means
    // zero-copy itself was refused, not the datagram.
    batch.zcCopied = true;
    if (call.CopyForcedBy(i) == EINVAL && zeroCopyRefused_ == 0) zeroCopyRefused_ = EINVAL;
  }
  batch.Record(i, res);
  NoteProgress(&batch);
}

bool UringBackend::RetryMember(UringCall& call, uint32_t i, bool zeroCopy, int err) {
  if (call.batch->Aborted()) return false;
  // The send buffer is full: this member goes again once there is room.
  if (err == EAGAIN) return true;
  // Before anything else: a stale ICMP error says nothing about this send
  // (EOPNOTSUPP from one must not turn zero-copy off for good).
  if (errors_.Stale(err)) return true;
  if (zeroCopy && RefusesZeroCopy(err)) {
    // Degrade this sender to copy sends for good; the member goes again.
    zeroCopyRefused_ = err;
    return true;
  }
  // EINVAL may be the datagram's (port 0) or zero-copy's (a kernel without
  // some SEND_ZC detail): a copy attempt tells which. EMSGSIZE from a
  // zero-copy send can be zero-copy's own limit (a datagram over more pages
  // than an skb holds fragments) where a copy fits.
  if (zeroCopy && (err == EINVAL || err == EMSGSIZE)) return call.ForceCopy(i, err);
  return false;
}

void UringBackend::Advance() {
  while (!queue_.empty()) {
    UringCall* call = queue_.front();
    if (call->batch->HasQueued() || call->inflight) return;
    queue_.pop_front();
    call->queued = false;
    MaybeFinish(call);
  }
}

void UringBackend::Cancel(UringCall& call) {
  call.batch->CancelQueued();
  NoteProgress(call.batch.get());
  // Sends already submitted finish on their own (they never wait), so once
  // none is left the call no longer holds back the ones after it.
  if (call.queued && call.inflight == 0) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), &call));
    call.queued = false;
  }
  MaybeFinish(&call);
}

void UringBackend::Abort(uint32_t token) {
  for (auto& call : table_) {
    if (call && call->batch->tx.token == token) {
      Cancel(*call);
      break;
    }
  }
  if (queue_.empty()) blocked_ = false;
  Pump();
}

void UringBackend::AbortAll() {
  // Cancel may finish and unlist a call: walk a copy.
  std::vector<UringCall*> live;
  for (auto& call : table_) {
    if (call) live.push_back(call.get());
  }
  for (UringCall* call : live) Cancel(*call);
  blocked_ = false;
  Pump();
}

void UringBackend::OnRingReady() {
  ring_.DrainEventFd();
  ring_.RunTaskWork(Outstanding());
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
  info.staleRetries = StaleRetries();
  return info;
}

void UringBackend::Drain() {
  if (ring_.SetupErrno() != 0 || active_ == 0) return;
  AbortAll();
  for (unsigned round = 0; active_ && round < kDrainRounds; ++round) {
    ring_.WaitCqe(kDrainWaitMs);
    ring_.RunTaskWork(Outstanding());
    ring_.Reap([this](const io_uring_cqe& cqe) { OnCqe(cqe); });
    Advance();
  }
}

void UringBackend::MaybeFinish(UringCall* call) {
  if (call->queued || !call->Finished()) return;
  if (call->slot >= 0) pool_.Release(call->slot);
  uint32_t id = call->id;
  finished_.push_back(std::move(call->batch));
  table_[id].reset();
  freeIds_.push_back(id);
  --active_;
}

}  // namespace sendgroup

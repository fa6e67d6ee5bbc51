#include "mmsg_backend.h"

#include <algorithm>
#include <cerrno>

namespace sendgroup {

namespace {

// Members per sendmmsg call: the kernel's own cap (UIO_MAXIOV).
constexpr unsigned kChunk = 1024;
// Work per turn of the event loop: a huge group, or one whose sends keep
// stopping at failures (a drop storm, stale ICMP errors), must not hold the
// JavaScript thread.
constexpr unsigned kMaxMembersPerPump = 4096;
constexpr unsigned kMaxCallsPerPump = 64;

}  // namespace

MmsgBackend::MmsgBackend(int fd, unsigned errorRoom, int ioUringErrno)
    : Backend(fd, errorRoom), ioUringErrno_(ioUringErrno), msgs_(kChunk), iovs_(size_t(kChunk) * Batch::kMaxIov) {}

MmsgBackend::~MmsgBackend() {
  for (Batch* batch : queue_) delete batch;
}

BackendInfo MmsgBackend::Info() const {
  BackendInfo info;
  info.name = "sendmmsg";
  info.ioUringErrno = ioUringErrno_;
  info.staleRetries = StaleRetries();
  return info;
}

void MmsgBackend::Start(std::unique_ptr<Batch> batch, const Sources& sources) {
  // Only with no earlier call still sending: it must not overtake one.
  if (batch->tx.Count() == 1 && queue_.empty()) {
    if (!batch->Placed()) batch->Borrow(sources);
    if (SendDirect(*batch)) {
      NoteProgress(batch.get());
      finished_.push_back(std::move(batch));
      return;
    }
  }
  if (!batch->Placed()) batch->PlaceOnHeap(sources);
  queue_.push_back(batch.release());
  Pump();
}

void MmsgBackend::OnSocketReady(bool error) {
  if (error) errors_.Drain();
  blocked_ = false;
  Pump();
}

void MmsgBackend::Pump() {
  unsigned calls = 0, members = 0;
  while (!queue_.empty() && !blocked_) {
    Batch* batch = queue_.front();
    while (batch->HasQueued() && !blocked_) {
      // Yield, and go on when the loop finds the socket writable (at once,
      // unless it is full).
      if (calls >= kMaxCallsPerPump || members >= kMaxMembersPerPump) blocked_ = true;
      uint32_t done = batch->Recorded();
      if (!blocked_ && SendChunk(*batch)) {
        ++calls;
        members += batch->Recorded() - done;
      }
    }
    if (batch->HasQueued()) break;  // wait for writability
    queue_.pop_front();
    Retire(batch);
  }
  // Batches canceled behind a blocked one settle now, not when it unblocks.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->HasQueued()) {
      ++it;
    } else {
      Retire(*it);
      it = queue_.erase(it);
    }
  }
}

bool MmsgBackend::SendChunk(Batch& batch) {
  // A chunk is consecutive members from the first queued one; a member the
  // socket cannot reach at all (Destination::err) ends it and is recorded
  // on its own.
  const std::vector<Destination>& to = *batch.tx.destinations;
  uint32_t first = batch.PeekQueued();
  if (int err = to[first].err) {
    batch.PopQueued();
    batch.Record(first, -err);
    NoteProgress(&batch);
    return true;
  }
  mmsghdr* msgs;
  unsigned n = Messages(batch, first, &msgs);
  errors_.StartRound();
  int sent, err = 0;
  {
    auto sending = errors_.Sending();
    sent = sendmmsg(fd_, msgs, n, MSG_DONTWAIT);
    if (sent < 0) err = errno;
    // Fewer than n sent: sendmmsg kept the failed message's error as the
    // socket error, to fail the next send with it; take it now, for the
    // member it belongs to. None kept: the failure was EAGAIN, the buffer
    // is full.
    else if (unsigned(sent) < n) err = TakeSocketError();
  }
  if (sent < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) {
      blocked_ = true;
      return false;
    }
    // sendmmsg reports an error only when the first message failed.
    if (err != EINTR) Failed(batch, first, err);
    return true;
  }
  for (int j = 0; j < sent; ++j) {
    batch.PopQueued();
    batch.Record(first + uint32_t(j), int(msgs[j].msg_len));
  }
  NoteProgress(&batch);
  if (unsigned(sent) < n) {
    if (err) Failed(batch, first + uint32_t(sent), err);
    else blocked_ = true;
  }
  return true;
}

int MmsgBackend::TakeSocketError() {
  int err = 0;
  socklen_t length = sizeof(err);
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &length);
  return err;
}

unsigned MmsgBackend::Messages(Batch& batch, uint32_t first, mmsghdr** from) {
  if (filledBatch_ != &batch || first < filledFirst_ || first >= filledFirst_ + filledCount_) {
    const std::vector<Destination>& to = *batch.tx.destinations;
    unsigned limit = std::min(kChunk, roundLimit_), n = 0;
    while (n < limit && first + n < batch.tx.Count() && !to[first + n].err) {
      batch.FillMessage(first + n, msgs_[n].msg_hdr, &iovs_[size_t(n) * Batch::kMaxIov]);
      ++n;
    }
    filledBatch_ = &batch;
    filledFirst_ = first;
    filledCount_ = n;
  }
  unsigned skip = first - filledFirst_;
  *from = &msgs_[skip];
  return filledCount_ - skip;
}

void MmsgBackend::Retire(Batch* batch) {
  // A later batch may be allocated where this one was.
  if (filledBatch_ == batch) filledBatch_ = nullptr;
  finished_.emplace_back(batch);
}

void MmsgBackend::Failed(Batch& batch, uint32_t i, int err) {
  if (errors_.Stale(err)) return;
  batch.PopQueued();
  batch.Record(i, -err);
  NoteProgress(&batch);
}

void MmsgBackend::Cancel(Batch* batch) {
  batch->CancelQueued();
  NoteProgress(batch);
}

void MmsgBackend::Abort(uint32_t token) {
  for (Batch* batch : queue_) {
    if (batch->tx.token == token) Cancel(batch);
  }
  Pump();
}

void MmsgBackend::AbortAll() {
  for (Batch* batch : queue_) Cancel(batch);
  Pump();
}

}  // namespace sendgroup

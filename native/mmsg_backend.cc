#include "mmsg_backend.h"

#include <algorithm>
#include <cerrno>

namespace sendgroup {

namespace {

// Work per wake-up of the thread it runs on (the JavaScript thread's loop, a
// worker's, a relay's): a huge group, or one whose sends keep stopping at
// failures (a drop storm, stale ICMP errors), must not hold it.
constexpr unsigned kMaxMembersPerPump = 4096;
constexpr unsigned kMaxCallsPerPump = 64;

}  // namespace

MmsgBackend::MmsgBackend(int fd, unsigned errorRoom, int ioUringErrno)
    : Backend(fd, errorRoom), ioUringErrno_(ioUringErrno) {}

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
      // Yield, and go on when the socket is found writable (at once,
      // unless it is full).
      if (calls >= kMaxCallsPerPump || members >= kMaxMembersPerPump) blocked_ = true;
      uint32_t done = batch->Recorded();
      if (!blocked_) {
        blocked_ = SendChunk(*batch) == Chunk::kFull;
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

void MmsgBackend::Retire(Batch* batch) {
  Forget(batch);
  finished_.emplace_back(batch);
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

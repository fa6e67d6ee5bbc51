#include "mmsg_backend.h"

#include <cerrno>

namespace sendgroup {

namespace {

// Members per sendmmsg call: the kernel's own cap (UIO_MAXIOV).
constexpr unsigned kChunk = 1024;
// sendmmsg calls per turn of the event loop.
constexpr unsigned kMaxChunksPerPump = 4;

}  // namespace

MmsgBackend::MmsgBackend(int fd, int ioUringErrno)
    : fd_(fd), ioUringErrno_(ioUringErrno), msgs_(kChunk), iovs_(size_t(kChunk) * Batch::kMaxIov) {}

MmsgBackend::~MmsgBackend() {
  for (Batch* batch : queue_) delete batch;
}

BackendInfo MmsgBackend::Info() const {
  BackendInfo info;
  info.name = "sendmmsg";
  info.ioUringErrno = ioUringErrno_;
  return info;
}

void MmsgBackend::Start(std::unique_ptr<Batch> owned, const uint8_t* payload) {
  Batch* batch = owned.release();
  batch->heapCopy.resize(batch->CopyLength() ? batch->CopyLength() : 1);
  batch->Place(batch->heapCopy.data(), payload);
  batch->zeroCopy = false;
  batch->state.assign(batch->Count(), MemberState::kQueued);
  queue_.push_back(batch);
  Pump();
}

void MmsgBackend::OnReady(bool error) {
  if (error) DrainErrorQueue();
  blocked_ = false;
  Pump();
}

// With IP_RECVERR the kernel queues ICMP errors and local ones (EMSGSIZE)
// about datagrams already reported; while any is queued the socket polls
// POLLERR and never just writable. They are old news: drop them, and the
// socket error they left, which would fail an unrelated next send.
void MmsgBackend::DrainErrorQueue() {
  alignas(cmsghdr) uint8_t control[512];
  uint8_t data[64];
  iovec iov{data, sizeof(data)};
  for (;;) {
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
  }
  int err;
  socklen_t length = sizeof(err);
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &length);
}

void MmsgBackend::Pump() {
  unsigned chunks = 0;
  while (!queue_.empty() && !blocked_) {
    Batch* batch = queue_.front();
    while (batch->HasQueued() && chunks < kMaxChunksPerPump && SendChunk(*batch)) ++chunks;
    // A huge group must not hold the JavaScript thread: yield, and go on
    // when the loop finds the socket writable (at once, unless it is full).
    if (chunks >= kMaxChunksPerPump) blocked_ = true;
    if (batch->HasQueued()) break;  // wait for writability
    queue_.pop_front();
    finished_.emplace_back(batch);
  }
  // Batches canceled behind a blocked one settle now, not when it unblocks.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->HasQueued()) {
      ++it;
    } else {
      finished_.emplace_back(*it);
      it = queue_.erase(it);
    }
  }
}

bool MmsgBackend::SendChunk(Batch& batch) {
  // A chunk is consecutive members from batch.next; a member the socket
  // cannot reach at all (Target::err) ends it and is recorded on its own.
  uint32_t first = batch.next;
  if (int err = batch.targets[first].err) {
    batch.PopQueued();
    batch.Record(first, -err);
    Touch(&batch);
    return true;
  }
  unsigned n = 0;
  while (n < kChunk && first + n < batch.Count() && !batch.targets[first + n].err) {
    batch.FillMessage(first + n, msgs_[n].msg_hdr, &iovs_[size_t(n) * Batch::kMaxIov]);
    ++n;
  }
  int sent = sendmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT);
  if (sent < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      blocked_ = true;
      return false;
    }
    // sendmmsg reports an error only when the first message failed.
    if (err != EINTR && !batch.RetryAfterStaleError(first, err)) {
      batch.PopQueued();
      batch.Record(first, -err);
      Touch(&batch);
    }
    return true;
  }
  // Fewer than n sent: the next call starts at the one that failed and
  // learns its error.
  for (int j = 0; j < sent; ++j) {
    batch.PopQueued();
    batch.Record(first + uint32_t(j), int(msgs_[j].msg_len));
  }
  Touch(&batch);
  return true;
}

void MmsgBackend::Cancel(Batch* batch) {
  batch->CancelQueued();
  Touch(batch);
}

void MmsgBackend::Abort(uint32_t token) {
  for (Batch* batch : queue_) {
    if (batch->token == token) Cancel(batch);
  }
  Pump();
}

void MmsgBackend::AbortAll() {
  for (Batch* batch : queue_) Cancel(batch);
  Pump();
}

}  // namespace sendgroup

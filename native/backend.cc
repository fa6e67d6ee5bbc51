#include "backend.h"

#include <cerrno>

namespace sendgroup {

bool Backend::SendDirect(Batch& batch) {
  if (int err = batch.tx.To(0).err) {
    batch.Record(0, -err);
    return true;
  }
  msghdr msg;
  iovec iov[Batch::kMaxIov];
  batch.FillMessage(0, msg, iov);
  for (;;) {
    errors_.StartRound();
    ssize_t sent;
    int err;
    {
      auto sending = errors_.Sending();
      sent = sendmsg(fd_, &msg, MSG_DONTWAIT);
      err = errno;
    }
    if (sent >= 0) {
      batch.Record(0, int(sent));
      return true;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) return false;
    if (err == EINTR || errors_.Stale(err)) continue;
    batch.Record(0, -err);
    return true;
  }
}

void Backend::Collect(ResultSink& sink) {
  for (Batch* batch : TakeProgressed()) {
    batch->hasNewProgress = false;
    if (!batch->progress.empty()) sink.Progress(*batch);
  }
  for (const auto& batch : TakeFinished()) sink.Done(*batch);
  for (const Unreachable& u : TakeUnreachable()) sink.Unreachable(u);
}

}  // namespace sendgroup

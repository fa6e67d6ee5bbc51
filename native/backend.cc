#include "backend.h"

#include <cerrno>

namespace sendgroup {

bool Backend::SendDirect(Batch& batch) {
  if (int err = batch.tx.destinations[0].err) {
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
    if (err == EINTR || errors_.Stale(err)) continue;
    batch.Record(0, -err);
    return true;
  }
}

}  // namespace sendgroup

// The sendmmsg backend, for where io_uring is blocked (Docker's default
// seccomp profile, kernel.io_uring_disabled): the same batches, sent with
// sendmmsg(2) in chunks. Nothing stays in the kernel after a call returns,
// so there is nothing to cancel or drain; a full send buffer (EAGAIN) waits
// for writability through the event loop. No zero-copy.
#pragma once

#include <sys/socket.h>

#include <deque>
#include <vector>

#include "backend.h"

namespace sendgroup {

class MmsgBackend : public Backend {
 public:
  // ioUringErrno: why io_uring is not used (0 when it was not asked for).
  MmsgBackend(int fd, unsigned errorRoom, int ioUringErrno);
  ~MmsgBackend() override;

  bool WantsWritable() const override { return blocked_; }
  void Start(std::unique_ptr<Batch> batch, const Sources& sources) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  void OnSocketReady(bool error) override;
  bool Idle() const override { return queue_.empty(); }
  void Drain() override { AbortAll(); }
  BackendInfo Info() const override;

 private:
  void Pump();
  // Sends the batch's next chunk; false when the socket buffer is full.
  bool SendChunk(Batch& batch);
  // msgs_ from the batch's member `first` on, filled if they are not yet;
  // how many there are.
  unsigned Messages(Batch& batch, uint32_t first, mmsghdr** from);
  void Retire(Batch* batch);
  // Member i's send failed with err: it goes again if the error was
  // another datagram's (ErrorQueue), else it is recorded.
  void Failed(Batch& batch, uint32_t i, int err);
  // The socket error (SO_ERROR), cleared by reading it.
  int TakeSocketError();
  void Cancel(Batch* batch);

  int ioUringErrno_;
  bool blocked_ = false;  // waiting for writability: socket full, or yielding
  std::deque<Batch*> queue_;  // owned until moved to finished_
  std::vector<mmsghdr> msgs_;
  // What msgs_ holds: members [filledFirst_, filledFirst_ + filledCount_)
  // of filledBatch_. A send that stops at a failure goes on from the
  // messages already filled: refilling the rest of a chunk after each
  // failure made a drop storm (every send fails) quadratic in the group.
  const Batch* filledBatch_ = nullptr;
  uint32_t filledFirst_ = 0;
  unsigned filledCount_ = 0;
  std::vector<iovec> iovs_;
};

}  // namespace sendgroup

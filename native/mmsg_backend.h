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
  void Retire(Batch* batch);
  void Cancel(Batch* batch);

  int ioUringErrno_;
  bool blocked_ = false;  // waiting for writability: socket full, or yielding
  std::deque<Batch*> queue_;  // owned until moved to finished_
};

}  // namespace sendgroup

// Receiving where io_uring is blocked: recvmmsg into free slots of the
// relay's pool whenever the socket is readable. It watches its own
// duplicate of the socket: libuv allows one poll handle per descriptor,
// and the sending side watches the socket itself.
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "poller.h"
#include "receiver.h"
#include "slot_pool.h"

namespace sendgroup {

class MmsgReceiver : public Receiver {
 public:
  // fd: the receiver's own duplicate (closed with it). loop nullptr: no
  // loop watches it; its owner polls fd for Interest() and calls
  // OnReadable().
  MmsgReceiver(uv_loop_t* loop, int fd, SlotPool& pool, OnDatagram onDatagram, OnBurst onBurst);
  ~MmsgReceiver() override;

  void Return(int slot) override;
  void Stop() override;
  bool Receiving() const override { return !stopped_; }

  int Fd() const { return fd_; }
  // POLLIN while a slot is free to receive into, else 0.
  short Interest() const;
  // Receives what the socket holds (bounded), then OnBurst.
  void OnReadable();

 private:
  void TakeWaiting() override;
  static void OnPoll(void* self, int status, int events);
  // One recvmmsg into up to kBatch free slots; true when it filled them all
  // (more may wait).
  bool ReceiveSome();
  // Up to `calls` recvmmsg calls, while each fills its batch.
  void ReceiveUpTo(unsigned calls);
  void Watch();

  int fd_;
  SlotPool& pool_;
  bool stopped_ = false;
  OnDatagram onDatagram_;
  OnBurst onBurst_;
  std::unique_ptr<Poller> poll_;
};

}  // namespace sendgroup

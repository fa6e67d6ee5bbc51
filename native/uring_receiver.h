// Receiving with io_uring: one multishot recvmsg that picks its buffers from
// a provided-buffer ring over the relay's slots, so each datagram lands in
// memory the sending rings registered and goes out from there.
#pragma once

#include <uv.h>

#include <memory>

#include "poller.h"
#include "receiver.h"
#include "ring.h"

namespace sendgroup {

class UringReceiver : public Receiver {
 public:
  // fd: the receiver's own duplicate of the socket (closed with it; libuv
  // polls one handle per descriptor, and the engine watches the socket's
  // own). Check SetupErrno() (a kernel without multishot receives or
  // provided buffer rings refuses, and the relay receives with recvmmsg
  // instead).
  // loop nullptr: no loop watches the receiver; its owner's thread sleeps
  // in Wait() instead, and may have other descriptors polled there (Poll).
  UringReceiver(uv_loop_t* loop, int fd, SlotPool& pool, bool deferTaskrun, OnDatagram onDatagram, OnBurst onBurst);
  ~UringReceiver() override;

  int SetupErrno() const { return setupErrno_; }
  void Return(int slot) override;
  void Stop() override;
  // A receive is armed, or its last completion is not yet reaped.
  bool Receiving() const override { return armed_; }

  // Without a loop: the owner's tags for Poll are kFirstOwnerTag and up.
  static constexpr uint64_t kFirstOwnerTag = 16;
  using OnOwnerCqe = std::function<void(const io_uring_cqe&)>;
  // Asks the ring to poll fd for events (multishot: a completion each time
  // they occur, until one comes without IORING_CQE_F_MORE); submitted with
  // the next Wait. False when the SQ is full.
  bool Poll(int fd, unsigned events, uint64_t tag, bool multishot);
  // Asks the ring to cancel the owner's request `tag` (its last completion
  // comes with a later Wait). False when the SQ is full.
  bool Cancel(uint64_t tag);
  // Submits, sleeps until something completes, delivers the datagrams and
  // hands the owner's completions to onOwner; then OnBurst.
  void Wait(const OnOwnerCqe& onOwner);
  // The same, sleeping at most timeoutMs (teardown: never forever).
  void WaitAtMost(unsigned timeoutMs, const OnOwnerCqe& onOwner);

 private:
  void TakeWaiting() override;
  bool SetUpBuffers();
  io_uring_sqe* Sqe();
  void Arm();
  int RefusedReceive();
  void Watch();
  static void OnPoll(void* self, int status, int events);
  static void OnWake(void* self, int status, int events);
  void Service();
  void Reap(const OnOwnerCqe& onOwner);
  void OnCqe(const io_uring_cqe& cqe);
  void Deliver(int slot, int length);

  // The provided-buffer ring's memory: declared before the ring, so the
  // ring (whose exit cancels a receive that could still write there) goes
  // first.
  struct Mapping {
    ~Mapping();
    void* addr = nullptr;
    size_t bytes = 0;
  };

  int fd_;
  SlotPool& pool_;
  Mapping mapping_;
  Ring ring_;
  int setupErrno_ = 0;
  io_uring_buf_ring* buffers_ = nullptr;
  unsigned entries_ = 0;
  msghdr template_{};  // how much name and control room each buffer keeps
  unsigned inRing_ = 0;  // buffers the kernel may pick
  bool armed_ = false;
  bool stopped_ = false;
  bool ownerWaits_;  // no loop: the owner sleeps in Wait()
  OnDatagram onDatagram_;
  OnBurst onBurst_;
  std::unique_ptr<Poller> poll_;      // the socket (a duplicate), readable
  std::unique_ptr<Poller> wakePoll_;  // the ring's eventfd: our own Wake()
};

}  // namespace sendgroup

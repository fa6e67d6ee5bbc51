#include "uring_receiver.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace sendgroup {

namespace {

constexpr uint16_t kBufferGroup = 1;
constexpr uint64_t kReceive = 1;
constexpr uint64_t kCancel = 2;
constexpr unsigned kRingEntries = 8;
// Receives one run of a multishot receive makes before it queues itself
// again (the kernel's MULTISHOT_MAX_RETRY).
constexpr unsigned kReceivesPerRun = 32;

unsigned PowerOfTwoAtLeast(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

UringReceiver::UringReceiver(uv_loop_t* loop, int fd, SlotPool& pool, bool deferTaskrun, OnDatagram onDatagram,
                             OnBurst onBurst)
    : fd_(fd), pool_(pool), ring_(kRingEntries, pool, false, deferTaskrun, PowerOfTwoAtLeast(unsigned(pool.Count())) * 2), ownerWaits_(!loop), onDatagram_(std::move(onDatagram)),
      onBurst_(std::move(onBurst)) {
  setupErrno_ = ring_.SetupErrno();
  if (setupErrno_ || !SetUpBuffers()) return;
  template_.msg_namelen = sizeof(sockaddr_storage);
  Arm();
  if (ring_.Submit() < 0) {
    setupErrno_ = EINVAL;
    return;
  }
  if ((setupErrno_ = RefusedReceive())) return;
  // The owner sleeps in the ring itself: an eventfd signal per completion
  // would wake nobody.
  if (ownerWaits_) {
    ring_.SetEventFdEnabled(false);
    return;
  }
  wakePoll_ = std::make_unique<Poller>(loop, ring_.EventFd(), this, OnWake);
  wakePoll_->Want(UV_READABLE);
  // Without DEFER_TASKRUN the kernel runs the receive's task work itself,
  // on the way out of our epoll_wait, and takes the datagram out of the
  // socket before epoll could report it: only the eventfd it signals for
  // the CQE wakes us then. With it, the socket wakes us (Service) and the
  // eventfd carries only our own Wake().
  if (!ring_.Features().deferTaskrun) return;
  ring_.SetEventFdEnabled(false);
  poll_ = std::make_unique<Poller>(loop, fd_, this, OnPoll);
  Watch();
}

UringReceiver::~UringReceiver() {
  poll_.reset();
  wakePoll_.reset();
  close(fd_);
}

UringReceiver::Mapping::~Mapping() {
  if (addr) munmap(addr, bytes);
}

bool UringReceiver::SetUpBuffers() {
  std::vector<iovec> slots = pool_.Iovecs();
  entries_ = PowerOfTwoAtLeast(unsigned(slots.size()));
  size_t bytes = entries_ * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    setupErrno_ = errno;
    return false;
  }
  mapping_.addr = mem;
  mapping_.bytes = bytes;
  buffers_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buffers_);
  io_uring_buf_reg reg{};
  reg.ring_addr = uint64_t(reinterpret_cast<uintptr_t>(buffers_));
  reg.ring_entries = entries_;
  reg.bgid = kBufferGroup;
  if (int ret = ring_.RegisterBufRing(&reg); ret < 0) {
    setupErrno_ = -ret;
    return false;
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    io_uring_buf_ring_add(buffers_, slots[i].iov_base, unsigned(slots[i].iov_len), uint16_t(i),
                          io_uring_buf_ring_mask(entries_), int(i));
  }
  io_uring_buf_ring_advance(buffers_, int(slots.size()));
  inRing_ = unsigned(slots.size());
  return true;
}

// Multishot recvmsg came in 6.0, a release after provided buffer rings
// (5.19): a kernel without it fails the receive as it is submitted
// (EINVAL, posted at once: no DEFER_TASKRUN before 6.1), and OnCqe, which
// re-arms an ended receive, would spin on it. Any other CQE (a datagram, or
// a socket error the receive consumed: re-armed once) stays for Reap.
int UringReceiver::RefusedReceive() {
  const io_uring_cqe* cqe = ring_.PeekCqe();
  bool refused = cqe && cqe->user_data == kReceive && (cqe->res == -EINVAL || cqe->res == -EOPNOTSUPP);
  return refused ? -cqe->res : 0;
}

void UringReceiver::Arm() {
  io_uring_sqe* sqe = Sqe();
  if (!sqe) return;
  io_uring_prep_recvmsg_multishot(sqe, fd_, &template_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, kReceive);
  armed_ = true;
}

void UringReceiver::Return(int slot) {
  io_uring_buf_ring_add(buffers_, pool_.Data(slot), unsigned(pool_.SlotSize()), uint16_t(slot),
                        io_uring_buf_ring_mask(entries_), 0);
  io_uring_buf_ring_advance(buffers_, 1);
  ++inRing_;
  // The receive ended when the ring ran dry (ENOBUFS): datagrams wait in
  // the socket meanwhile, or the kernel drops them (counted, SocketDrops).
  if (!armed_ && !stopped_) {
    Arm();
    // Woken by the socket, the new receive goes in with the next Service:
    // submitted here it could take the waiting datagrams, and no wake-up
    // would come to reap them. Woken by the eventfd, it goes in now.
    // An owner that waits in the ring submits it with its next Wait.
    if (poll_) Watch();
    else if (!ownerWaits_) ring_.Submit();
  }
}

// DEFER_TASKRUN: the receive's task work runs only when asked; a cancel
// submitted with it pending would leave those datagrams in the socket.
// One run receives at most kReceivesPerRun and queues the rest for the
// next, so a pass per kReceivesPerRun free buffers. Their CQEs are reaped
// with the cancel's.
void UringReceiver::TakeWaiting() {
  for (unsigned pass = 0; armed_ && !stopped_ && pass <= inRing_ / kReceivesPerRun; ++pass) ring_.Submit();
}

void UringReceiver::Stop() {
  if (stopped_) return;
  stopped_ = true;
  io_uring_sqe* sqe = armed_ ? Sqe() : nullptr;
  if (!sqe) return;
  io_uring_prep_cancel64(sqe, kReceive, 0);
  io_uring_sqe_set_data64(sqe, kCancel);
  ring_.Submit();
  Watch();
  // Datagrams the receive took before the cancel: reaped and forwarded
  // from the loop, not from inside whoever stopped us (an owner that waits
  // in the ring reaps them with its next Wait).
  if (!ownerWaits_) ring_.Wake();
}

// Watched while a receive is armed: the socket stays readable while
// datagrams wait in it, so with no buffer to take them it would wake the
// loop again and again.
void UringReceiver::Watch() {
  if (poll_) poll_->Want(armed_ && !stopped_ ? UV_READABLE : 0);
}

void UringReceiver::OnPoll(void* self, int /*status*/, int /*events*/) {
  static_cast<UringReceiver*>(self)->Service();
}

void UringReceiver::OnWake(void* self, int /*status*/, int /*events*/) {
  auto* receiver = static_cast<UringReceiver*>(self);
  receiver->ring_.DrainEventFd();
  receiver->Service();
}

// A datagram arriving wakes both the receive (its poll queues task work)
// and our epoll watch of the socket, so one Submit, which submits a receive
// armed since and runs the task work (DEFER_TASKRUN: only when asked), posts
// the datagrams' CQEs. The eventfd would cost a read and, as the CQEs posted
// by that run signal it again, a second pass with signalling off per
// wake-up (-1 us per datagram at one member).
// Nothing is lost if the watch fires before the receive's work is queued
// (a race on another CPU) or the work stops early: the datagram is still in
// the socket, which epoll, level-triggered, reports again. A POLLERR (an
// ICMP error for the engine, which drains it) wakes this too, harmlessly.
// One task-work pass runs all there is: two requests at most (the receive
// and its cancel), each with one item queued at a time.
void UringReceiver::Service() {
  ring_.Submit();
  Reap(nullptr);
}

// With the SQ full, what it holds goes in first.
io_uring_sqe* UringReceiver::Sqe() {
  io_uring_sqe* sqe = ring_.GetSqe();
  if (!sqe && ring_.Submit() >= 0) sqe = ring_.GetSqe();
  return sqe;
}

bool UringReceiver::Poll(int fd, unsigned events, uint64_t tag, bool multishot) {
  io_uring_sqe* sqe = Sqe();
  if (!sqe) return false;
  if (multishot) io_uring_prep_poll_multishot(sqe, fd, events);
  else io_uring_prep_poll_add(sqe, fd, events);
  io_uring_sqe_set_data64(sqe, tag);
  return true;
}

bool UringReceiver::Cancel(uint64_t tag) {
  io_uring_sqe* sqe = Sqe();
  if (!sqe) return false;
  io_uring_prep_cancel64(sqe, tag, 0);
  io_uring_sqe_set_data64(sqe, kCancel);
  return true;
}

// A datagram arriving queues the receive's task work, which wakes the wait
// (DEFER_TASKRUN: once as many items are queued as completions are waited
// for, here one) and runs inside it; without DEFER_TASKRUN it runs as the
// thread returns from the wait. Either way its CQE is there when Wait
// returns, as for a blocking recvmmsg.
void UringReceiver::Wait(const OnOwnerCqe& onOwner) {
  ring_.SubmitAndWait();
  Reap(onOwner);
}

void UringReceiver::WaitAtMost(unsigned timeoutMs, const OnOwnerCqe& onOwner) {
  ring_.WaitCqe(timeoutMs);
  Reap(onOwner);
}

void UringReceiver::Reap(const OnOwnerCqe& onOwner) {
  ring_.Reap([&](const io_uring_cqe& cqe) {
    if (cqe.user_data < kFirstOwnerTag) OnCqe(cqe);
    else if (onOwner) onOwner(cqe);
  });
  Watch();
  onBurst_();
}

void UringReceiver::OnCqe(const io_uring_cqe& cqe) {
  if (cqe.user_data != kReceive) return;
  if (!(cqe.flags & IORING_CQE_F_MORE)) armed_ = false;
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    --inRing_;
    int slot = int(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    if (cqe.res >= 0) Deliver(slot, cqe.res);
    else Return(slot);
  }
  // Ended: receive again, unless the buffer ring ran dry and is still dry
  // (Return re-arms then). Buffers given back between the kernel's ENOBUFS
  // and our reading it found the receive still armed: re-arm for them here.
  // Submitted now, its CQEs are reaped by the loop that is reading these.
  if (!armed_ && !stopped_ && (cqe.res != -ENOBUFS || inRing_ > 0)) {
    Arm();
    ring_.Submit();
  }
}

void UringReceiver::Deliver(int slot, int length) {
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(pool_.Data(slot), length, &template_);
  if (!out) {
    Return(slot);
    return;
  }
  auto* payload = static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &template_));
  size_t bytes = io_uring_recvmsg_payload_length(out, length, &template_);
  onDatagram_({payload, bytes, slot, static_cast<const sockaddr*>(io_uring_recvmsg_name(out)),
               socklen_t(out->namelen), bool(out->flags & MSG_TRUNC)});
}

}  // namespace sendgroup

#include "uring_receiver.h"

#include <sys/mman.h>

#include <cerrno>

namespace sendgroup {

namespace {

constexpr uint16_t kBufferGroup = 1;
constexpr uint64_t kReceive = 1;
constexpr uint64_t kCancel = 2;
constexpr unsigned kRingEntries = 8;
// In flight at once: the multishot receive, and its cancel.
constexpr unsigned kRequests = 2;

unsigned PowerOfTwoAtLeast(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

UringReceiver::UringReceiver(uv_loop_t* loop, int fd, SlotPool& pool, bool deferTaskrun, OnDatagram onDatagram,
                             OnBurst onBurst)
    : Receiver(fd), fd_(fd), pool_(pool), ring_(kRingEntries, pool, false, deferTaskrun, PowerOfTwoAtLeast(unsigned(pool.Count())) * 2), onDatagram_(std::move(onDatagram)),
      onBurst_(std::move(onBurst)) {
  setupErrno_ = ring_.SetupErrno();
  if (setupErrno_ || !SetUpBuffers()) return;
  template_.msg_namelen = sizeof(sockaddr_storage);
  Arm();
  if (ring_.Submit() < 0) {
    setupErrno_ = EINVAL;
    return;
  }
  poll_ = std::make_unique<Poller>(loop, ring_.EventFd(), this, OnPoll);
  poll_->Want(UV_READABLE);
}

UringReceiver::~UringReceiver() = default;

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

void UringReceiver::Arm() {
  io_uring_sqe* sqe = ring_.GetSqe();
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
  // the socket meanwhile, or the kernel drops them (counted, Drops()).
  if (!armed_ && !stopped_) {
    Arm();
    ring_.Submit();
  }
}

void UringReceiver::Stop() {
  if (stopped_) return;
  stopped_ = true;
  io_uring_sqe* sqe = armed_ ? ring_.GetSqe() : nullptr;
  if (!sqe) return;
  io_uring_prep_cancel64(sqe, kReceive, 0);
  io_uring_sqe_set_data64(sqe, kCancel);
  ring_.Submit();
}

void UringReceiver::OnPoll(void* self, int /*status*/, int /*events*/) {
  auto* receiver = static_cast<UringReceiver*>(self);
  receiver->ring_.DrainEventFd();
  receiver->RunTaskWork();
  receiver->ring_.Reap([receiver](const io_uring_cqe& cqe) { receiver->OnCqe(cqe); });
  receiver->onBurst_();
}

// The CQEs that running the task work posts would signal the eventfd again,
// a second wake-up for CQEs reaped right after this: signalling is off while
// it runs. A datagram that queued work meanwhile did not signal, so the work
// runs once more with signalling back on (a pass with nothing to do costs
// ~0.1 us; a wake-up several).
void UringReceiver::RunTaskWork() {
  ring_.SetEventFdEnabled(false);
  ring_.RunTaskWork(kRequests);
  ring_.SetEventFdEnabled(true);
  ring_.RunTaskWork(kRequests);
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

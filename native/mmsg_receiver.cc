#include "mmsg_receiver.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace sendgroup {

namespace {

constexpr unsigned kBatch = 64;
// recvmmsg calls per turn of the loop: a flood must not hold the thread.
constexpr unsigned kCallsPerTurn = 16;

struct Room {
  sockaddr_storage from;
  iovec iov;
};

}  // namespace

MmsgReceiver::MmsgReceiver(uv_loop_t* loop, int fd, SlotPool& pool, OnDatagram onDatagram, OnBurst onBurst)
    : fd_(fd), pool_(pool), onDatagram_(std::move(onDatagram)), onBurst_(std::move(onBurst)) {
  if (loop) poll_ = std::make_unique<Poller>(loop, fd_, this, OnPoll);
  Watch();
}

MmsgReceiver::~MmsgReceiver() {
  poll_.reset();
  close(fd_);
}

void MmsgReceiver::Return(int slot) {
  pool_.Release(slot);
  Watch();
}

// No onBurst_: the caller (close()) is not one to call into JavaScript from.
// As many calls as the buffers can fill: the sendmmsg backend may give
// slots back while it goes, and input that keeps coming must not keep
// close() here.
void MmsgReceiver::TakeWaiting() { ReceiveUpTo(pool_.Count() / kBatch + 1); }

void MmsgReceiver::ReceiveUpTo(unsigned calls) {
  for (unsigned call = 0; call < calls && !stopped_ && ReceiveSome(); ++call) {
  }
}

void MmsgReceiver::Stop() {
  stopped_ = true;
  Watch();
}

// Readable while a slot is free to receive into; else the socket holds the
// datagrams (or drops them, counted) until one comes back.
short MmsgReceiver::Interest() const { return stopped_ || !pool_.Free() ? 0 : POLLIN; }

void MmsgReceiver::Watch() {
  if (poll_) poll_->Want(Interest() ? UV_READABLE : 0);
}

void MmsgReceiver::OnPoll(void* self, int /*status*/, int /*events*/) { static_cast<MmsgReceiver*>(self)->OnReadable(); }

void MmsgReceiver::OnReadable() {
  ReceiveUpTo(kCallsPerTurn);
  Watch();
  onBurst_();
}

bool MmsgReceiver::ReceiveSome() {
  int slots[kBatch];
  Room rooms[kBatch];
  mmsghdr msgs[kBatch] = {};
  unsigned n = 0;
  for (; n < kBatch && (slots[n] = pool_.Acquire()) >= 0; ++n) {
    rooms[n].iov = {pool_.Data(slots[n]), pool_.SlotSize()};
    msghdr& m = msgs[n].msg_hdr;
    m.msg_name = &rooms[n].from;
    m.msg_namelen = sizeof(rooms[n].from);
    m.msg_iov = &rooms[n].iov;
    m.msg_iovlen = 1;
  }
  int got = n ? recvmmsg(fd_, msgs, n, MSG_DONTWAIT, nullptr) : -1;
  for (int i = got < 0 ? 0 : got; i < int(n); ++i) pool_.Release(slots[i]);
  for (int i = 0; i < got; ++i) {
    const msghdr& m = msgs[i].msg_hdr;
    onDatagram_({pool_.Data(slots[i]), msgs[i].msg_len, slots[i], reinterpret_cast<const sockaddr*>(&rooms[i].from),
                 m.msg_namelen, bool(m.msg_flags & MSG_TRUNC)});
  }
  // Fewer than asked for: the socket was empty just now, and calling again
  // would mostly cost an EAGAIN (0.6 of a call per datagram at a paced 20,000
  // a second). What arrived since keeps the socket readable: the loop's
  // level-triggered poll comes back for it.
  return got == int(n);
}

}  // namespace sendgroup

#include "uring_sqe.h"

#include <sys/socket.h>

namespace sendgroup {

// MSG_DONTWAIT makes io_uring complete a send that finds the buffer full
// with EAGAIN (REQ_F_NOWAIT) instead of arming a poll: poll-armed sends wake
// in no particular order (the socket's wait queue is LIFO), which would
// reorder a member's datagrams, and they run as deferred task work.
void PrepMemberSend(io_uring_sqe* sqe, Batch& batch, uint32_t i, const SqeChoice& c) {
  const RingFeatures& f = c.features;
  const Transmit& tx = batch.tx;
  bool fixed = c.slot >= 0 && f.fixedBuffers;
  unsigned zcFlags = f.reportUsage ? IORING_SEND_ZC_REPORT_USAGE : 0;
  const Destination& d = tx.To(i);
  void* payload = const_cast<uint8_t*>(batch.Payload());
  if (tx.Plain() && !c.zeroCopy && f.sendWithAddr) {
    // sendto(): no msghdr to build, copy in and import per member.
    io_uring_prep_send(sqe, c.fd, payload, tx.payloadLength, MSG_DONTWAIT);
    io_uring_prep_send_set_addr(sqe, &d.sa, uint16_t(d.len));
  } else if (tx.Plain() && c.zeroCopy) {
    if (fixed) io_uring_prep_send_zc_fixed(sqe, c.fd, payload, tx.payloadLength, MSG_DONTWAIT, zcFlags, unsigned(c.slot));
    else io_uring_prep_send_zc(sqe, c.fd, payload, tx.payloadLength, MSG_DONTWAIT, zcFlags);
    io_uring_prep_send_set_addr(sqe, &d.sa, uint16_t(d.len));
  } else if (!c.zeroCopy) {
    io_uring_prep_sendmsg(sqe, c.fd, batch.Message(i), MSG_DONTWAIT);
  } else {
    msghdr* msg = batch.Message(i);
    // Registered vectored buffers (6.15): every iovec lies in the call's
    // slot, so the kernel skips pinning the pages on each send.
    if (fixed && f.sendmsgZcFixed && msg->msg_iovlen > 0) {
      io_uring_prep_sendmsg_zc_fixed(sqe, c.fd, msg, MSG_DONTWAIT, unsigned(c.slot));
    } else {
      io_uring_prep_sendmsg_zc(sqe, c.fd, msg, MSG_DONTWAIT);
    }
    sqe->ioprio |= zcFlags;
  }
}

}  // namespace sendgroup

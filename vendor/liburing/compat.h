// Kernel ABI values newer than the liburing 2.3 headers sendgroup builds
// against. Each is the value from the kernel's uapi io_uring.h; whether the
// running kernel honours it is probed at run time, never assumed.
#pragma once

#include <liburing.h>

// SEND_ZC flag (6.2): the notification CQE's res tells whether the kernel had
// to copy the data after all (loopback always does).
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif

// Bit set in a notification CQE's res when IORING_SEND_ZC_REPORT_USAGE was
// asked for and the data was copied instead of sent from the user pages.
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

// setsockopt(SOL_UDP, UDP_SEGMENT) / cmsg type for UDP GSO (4.18); glibc's
// netinet/udp.h only gained it in 2.35, so older build hosts lack it.
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

// liburing's helpers newer than 2.3, with liburing's names and arguments,
// written here from the kernel ABI. In namespace sendgroup, so a liburing
// that has its own never clashes with them (calls inside the namespace find
// these first).
namespace sendgroup {

// SENDMSG_ZC from registered buffers (6.15): every iovec of msg must lie in
// registered buffer buf_index. liburing 2.10 has the same.
inline void io_uring_prep_sendmsg_zc_fixed(struct io_uring_sqe* sqe, int fd, const struct msghdr* msg, unsigned flags,
                                           unsigned buf_index) {
  io_uring_prep_sendmsg_zc(sqe, fd, msg, flags);
  sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
  sqe->buf_index = (__u16)buf_index;
}

}  // namespace sendgroup

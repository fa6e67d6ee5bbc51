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

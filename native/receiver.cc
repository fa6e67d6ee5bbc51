#include "receiver.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

namespace sendgroup {

Receiver::Receiver(int fd) : socketFd_(fd), dropsBefore_(SocketDrops()) {}

uint32_t Receiver::SocketDrops() const {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(meminfo);
  if (getsockopt(socketFd_, SOL_SOCKET, SO_MEMINFO, meminfo, &length) < 0) return 0;
  return meminfo[SK_MEMINFO_DROPS];
}

// The kernel's count wraps at 2^32; so does the difference.
double Receiver::Drops() const { return double(uint32_t(SocketDrops() - dropsBefore_)); }

}  // namespace sendgroup

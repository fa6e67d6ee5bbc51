#include "receiver.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

namespace sendgroup {

uint32_t SocketDrops(int fd) {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(meminfo);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) < 0) return 0;
  return meminfo[SK_MEMINFO_DROPS];
}

}  // namespace sendgroup

// The UDP socket a Sender sends through: one of its own, bound where the
// user asked, or a duplicate of a bound dgram socket's descriptor.
#pragma once

#include <napi.h>

#include "member_table.h"

namespace sendgroup {

struct SocketSpec {
  Destination bind;             // our own socket's local address (when adopt < 0)
  int adopt = -1;          // a bound socket's descriptor to duplicate
  int sendBufferSize = 0;  // SO_SNDBUF; 0: the kernel's default
};

struct Socket {
  int fd = -1;
  int family = 0;
  // ICMP errors the socket's error queue holds before the kernel drops
  // more (they count against the receive buffer); 0: none are queued.
  unsigned errorRoom = 0;
};

// Throws a system error (errno, syscall) when the kernel refuses.
Socket OpenSocket(Napi::Env env, const SocketSpec& spec);

}  // namespace sendgroup

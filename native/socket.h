// The UDP socket a Sender sends through: one of its own, bound where the
// user asked, or a duplicate of a bound dgram socket's descriptor.
#pragma once

#include <napi.h>

#include "member_table.h"

namespace sendgroup {

// What dgram.Socket's setters set, once, for both families of a dual-stack
// socket (IPv4 members go out v4-mapped, under the IPv4 options). -1:
// leave the kernel's default.
struct SocketOptions {
  int ttl = -1;                // IP_TTL, IPV6_UNICAST_HOPS
  int tos = -1;                // IP_TOS, IPV6_TCLASS: DSCP and ECN
  int broadcast = -1;          // SO_BROADCAST
  int multicastTtl = -1;       // IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS
  int multicastLoopback = -1;  // IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP
  // IP_MULTICAST_IF (an IPv4 address) or IPV6_MULTICAST_IF (an interface
  // index, the zone of '::%N'); family 0: unset.
  Destination multicastInterface{};
};

struct SocketSpec {
  Destination bind;        // our own socket's local address (when adopt < 0)
  int adopt = -1;          // a bound socket's descriptor to duplicate
  int sendBufferSize = 0;  // SO_SNDBUF; 0: the kernel's default
  // Several sockets will share the address (one per sending thread, see
  // Twin): SO_REUSEPORT, set after bind so that a port in use still fails
  // with EADDRINUSE (set before, it would join any reuseport socket of the
  // same user already there).
  bool shared = false;
  bool twin = false;  // joins the group: SO_REUSEPORT before bind
  // A relay's: it receives (no filter against incoming datagrams), and
  // reports how many the socket dropped (SO_MEMINFO, receiver.h).
  bool receives = false;
  SocketOptions options;
};

// An adopted socket's IP_RECVERR and IPV6_RECVERR as we found them, where
// a relay turned them on to read its ICMP errors itself; -1: not changed.
struct ErrorReporting {
  int v4 = -1, v6 = -1;
};

struct Socket {
  int fd = -1;
  int family = 0;
  // ICMP errors the socket's error queue holds before the kernel drops
  // more (they count against the receive buffer); 0: none are queued.
  unsigned errorRoom = 0;
  ErrorReporting found{};
};

// Throws a system error (errno, syscall) when the kernel refuses.
Socket OpenSocket(Napi::Env env, const SocketSpec& spec);
// Where the socket is bound (getsockname; throws a system error), and the
// same as JavaScript's { address, port, family }.
sockaddr_storage LocalAddress(Napi::Env env, int fd);
Napi::Object LocalAddressObject(Napi::Env env, int fd);
// Gives an adopted socket back as it was found: left with IP_RECVERR on,
// dgram would get every later ICMP error from recvmsg and emit it as an
// 'error' event, which ends a process that has no listener. Turning it off
// drops the error queue; the socket error still pending is read away.
void HandBack(int fd, int family, const ErrorReporting& found);
// Another socket like first, for another sending thread: bound to first's
// address and port (SO_REUSEPORT; an adopted socket is duplicated). Each
// has its own socket error and error queue, so what errqueue.h proves
// holds per socket; an ICMP error lands on whichever socket the kernel's
// reuseport hash picks, and that socket's next send is proved stale by that
// socket's own queue.
Socket Twin(Napi::Env env, const SocketSpec& spec, const Socket& first);

}  // namespace sendgroup

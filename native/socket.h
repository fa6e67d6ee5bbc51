// The UDP socket a Sender sends through: one of its own, bound where the
// user asked, or a duplicate of a bound dgram socket's descriptor.
#pragma once

#include <napi.h>

#include <vector>

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

// The options of an adopted socket (the user's own) as we found them, each
// kept before our first change to it, to give the socket back so: a ttl or
// tos, a send buffer, or the IP_RECVERR a relay turns on to read its ICMP
// errors, would otherwise stay on the user's socket after close().
struct FoundOptions {
  struct Saved {
    int level;
    int name;
    socklen_t length;
    uint8_t value[16];
  };
  bool keeping = false;  // an adopted socket's
  std::vector<Saved> saved;
};

struct Socket {
  int fd = -1;
  int family = 0;
  // ICMP errors the socket's error queue holds before the kernel drops
  // more (they count against the receive buffer); 0: none are queued.
  unsigned errorRoom = 0;
  FoundOptions found{};
};

// Throws a system error (errno, syscall) when the kernel refuses.
Socket OpenSocket(Napi::Env env, const SocketSpec& spec);
// Where the socket is bound (getsockname; throws a system error), and the
// same as JavaScript's { address, port, family }.
sockaddr_storage LocalAddress(Napi::Env env, int fd);
Napi::Object LocalAddressObject(Napi::Env env, int fd);
// Gives an adopted socket back as it was found (its options, newest change
// first). IP_RECVERR left on would make dgram get every later ICMP error
// from recvmsg and emit it as an 'error' event, which ends a process that
// has no listener; turning it off drops the error queue, and the socket
// error still pending is read away.
void HandBack(int fd, const FoundOptions& found);
// Another socket like first, for another sending thread: bound to first's
// address and port (SO_REUSEPORT; an adopted socket is duplicated). Each
// has its own socket error and error queue, so what errqueue.h proves
// holds per socket; an ICMP error lands on whichever socket the kernel's
// reuseport hash picks, and that socket's next send is proved stale by that
// socket's own queue.
Socket Twin(Napi::Env env, const SocketSpec& spec, const Socket& first);

}  // namespace sendgroup

// The member table lib/group.ts packs, turned into kernel addresses.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sendgroup {

// Layout of one member in the table (kMemberBytes each): [0] family 4|6,
// [2..3] port (network order), [4..7] IPv6 scope id (little endian),
// [8..23] address (IPv4 uses the first four bytes).
constexpr size_t kMemberBytes = 24;

// A member as the kernel takes it.
struct Destination {
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  socklen_t len = 0;
  int err = 0;  // non-zero: this member cannot be sent on this socket
};

// An address as the relay compares them: IPv4 (also written v4-mapped) or
// IPv6, and a port in network order.
struct HostPort {
  int family = 0;  // 4 or 6
  uint16_t portBe = 0;
  uint8_t address[16] = {};
  // A link-local address's interface (link-local addresses are unique per
  // link only); 0 for any other address, or one written without a zone.
  uint32_t scope = 0;
};

HostPort HostPortOf(const sockaddr* address);

// Converts count packed members for a socket of socketFamily (AF_INET or
// AF_INET6; a dual-stack AF_INET6 socket reaches IPv4 members v4-mapped).
// Returns false when the table is malformed.
bool ParseDestinations(const uint8_t* table, size_t count, int socketFamily, std::vector<Destination>& out);

}  // namespace sendgroup

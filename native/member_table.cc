#include "member_table.h"

#include <cerrno>
#include <cstring>

namespace sendgroup {

namespace {

void ToV4(const uint8_t* address, uint16_t portBe, Destination& d) {
  d.v4 = {};
  d.v4.sin_family = AF_INET;
  d.v4.sin_port = portBe;
  std::memcpy(&d.v4.sin_addr, address, 4);
  d.len = sizeof(sockaddr_in);
}

bool IsV4Mapped(const uint8_t* address) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(address, kPrefix, 12) == 0;
}

void ToV6(const uint8_t* member, uint16_t portBe, bool mapped, Destination& d) {
  d.v6 = {};
  d.v6.sin6_family = AF_INET6;
  d.v6.sin6_port = portBe;
  if (mapped) {
    d.v6.sin6_addr.s6_addr[10] = 0xff;
    d.v6.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&d.v6.sin6_addr.s6_addr[12], member + 8, 4);
  } else {
    std::memcpy(&d.v6.sin6_addr, member + 8, 16);
    uint32_t scope;
    std::memcpy(&scope, member + 4, 4);
    d.v6.sin6_scope_id = scope;
  }
  d.len = sizeof(sockaddr_in6);
}

}  // namespace

HostPort HostPortOf(const sockaddr* address) {
  HostPort out;
  if (address->sa_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    out.family = 4;
    out.portBe = v4->sin_port;
    std::memcpy(out.address, &v4->sin_addr, 4);
    return out;
  }
  auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
  bool mapped = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr);
  out.family = mapped ? 4 : 6;
  out.portBe = v6->sin6_port;
  std::memcpy(out.address, v6->sin6_addr.s6_addr + (mapped ? 12 : 0), mapped ? 4 : 16);
  if (IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr)) out.scope = v6->sin6_scope_id;
  return out;
}

bool ParseDestinations(const uint8_t* table, size_t count, int socketFamily, std::vector<Destination>& out) {
  out.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* member = table + i * kMemberBytes;
    uint16_t portBe;
    std::memcpy(&portBe, member + 2, 2);
    Destination& d = out[i];
    if (member[0] == 4) {
      if (socketFamily == AF_INET) ToV4(member + 8, portBe, d);
      else ToV6(member, portBe, true, d);
    } else if (member[0] == 6 && socketFamily == AF_INET && IsV4Mapped(member + 8)) {
      // ::ffff:a.b.c.d is that IPv4 address, which an IPv4 socket reaches.
      ToV4(member + 8 + 12, portBe, d);
    } else if (member[0] == 6) {
      ToV6(member, portBe, false, d);
      // An IPv4 socket cannot reach an IPv6 member; say so per member.
      if (socketFamily == AF_INET) d.err = EAFNOSUPPORT;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace sendgroup

#include "socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace sendgroup {

namespace {

// Receive buffer for the error queue: room for thousands of ICMP errors,
// each of which costs up to kErrorEntryBytes (an ICMPv6 error quoting a
// 1,280-byte packet; 835 bytes for a short IPv4 one).
constexpr int kErrorQueueBytes = 4 << 20;
constexpr unsigned kErrorEntryBytes = 2400;

int SetIntOption(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}

// 0 where it cannot be read.
int IntOption(int fd, int level, int name) {
  int value = 0;
  socklen_t length = sizeof(value);
  return getsockopt(fd, level, name, &value, &length) < 0 ? 0 : value;
}

// Sets an option; on an adopted socket, what it was before our first change
// is kept for HandBack.
int Change(Socket& s, int level, int name, const void* value, socklen_t length) {
  bool kept = false;
  for (const FoundOptions::Saved& saved : s.found.saved) kept |= saved.level == level && saved.name == name;
  if (s.found.keeping && !kept) {
    FoundOptions::Saved saved{level, name, sizeof(saved.value), {}};
    if (getsockopt(s.fd, level, name, saved.value, &saved.length) == 0) s.found.saved.push_back(saved);
  }
  return setsockopt(s.fd, level, name, value, length);
}

int ChangeInt(Socket& s, int level, int name, int value) {
  return Change(s, level, name, &value, sizeof(value));
}

// Our own socket only sends and nobody reads its receive queue: datagrams
// sent to its port would pile up there until the receive buffer is full,
// and the kernel would then drop ICMP errors (error-queue entries count
// against the same buffer). A filter that accepts nothing keeps datagrams
// out; ICMP errors do not pass socket filters.
void DropIncoming(int fd) {
  sock_filter reject{BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog program{1, &reject};
  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program));
}

// How many ICMP errors fit in the receive buffer once it is as large as we
// may make it (SO_RCVBUFFORCE with CAP_NET_ADMIN; else net.core.rmem_max
// caps SO_RCVBUF).
unsigned GrowErrorQueue(int fd) {
  if (SetIntOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, kErrorQueueBytes) < 0) {
    SetIntOption(fd, SOL_SOCKET, SO_RCVBUF, kErrorQueueBytes);
  }
  int bytes = 0;
  socklen_t length = sizeof(bytes);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, &length);
  return unsigned(bytes) / kErrorEntryBytes;
}

// Sets one option at each level that applies: IPv4 always (a dual-stack
// socket sends IPv4 members under it), IPv6 on an IPv6 socket.
void SetBoth(Napi::Env env, Socket& s, int value, int v4, int v6) {
  if (value < 0) return;
  bool failed = ChangeInt(s, IPPROTO_IP, v4, value) < 0;
  if (!failed && s.family == AF_INET6) failed = ChangeInt(s, IPPROTO_IPV6, v6, value) < 0;
  if (failed) ThrowSyscallError(env, "setsockopt", errno);
}

void SetMulticastInterface(Napi::Env env, Socket& s, const Destination& d) {
  int ret = 0;
  if (d.sa.sa_family == AF_INET) {
    ret = Change(s, IPPROTO_IP, IP_MULTICAST_IF, &d.v4.sin_addr, sizeof(d.v4.sin_addr));
  } else if (d.sa.sa_family == AF_INET6) {
    ret = ChangeInt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, int(d.v6.sin6_scope_id));
  }
  if (ret < 0) ThrowSyscallError(env, "setsockopt", errno);
}

void ApplyOptions(Napi::Env env, Socket& s, const SocketOptions& o) {
  SetBoth(env, s, o.ttl, IP_TTL, IPV6_UNICAST_HOPS);
  SetBoth(env, s, o.tos, IP_TOS, IPV6_TCLASS);
  SetBoth(env, s, o.multicastTtl, IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS);
  SetBoth(env, s, o.multicastLoopback, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP);
  if (o.broadcast >= 0 && ChangeInt(s, SOL_SOCKET, SO_BROADCAST, o.broadcast) < 0) {
    ThrowSyscallError(env, "setsockopt", errno);
  }
  SetMulticastInterface(env, s, o.multicastInterface);
}

Socket Adopt(Napi::Env env, int userFd) {
  int type = 0;
  socklen_t length = sizeof(type);
  if (getsockopt(userFd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) ThrowSyscallError(env, "getsockopt", errno);
  if (type != SOCK_DGRAM) ThrowTypeError(env, "socket must be a UDP socket");
  sockaddr_storage local = LocalAddress(env, userFd);
  // Our own descriptor for the user's socket: closing the Sender closes
  // only it. IP_RECVERR is left off on purpose: it would turn ICMP errors
  // into receive errors that dgram emits as 'error' on the user's socket.
  Socket s{fcntl(userFd, F_DUPFD_CLOEXEC, 0), local.ss_family};
  if (s.fd < 0) ThrowSyscallError(env, "fcntl", errno);
  s.found.keeping = true;
  return s;
}

// [::] on a host without IPv6: the same port on 0.0.0.0 is what was meant.
bool FallBackToV4(Destination& local) {
  if (local.sa.sa_family != AF_INET6 || !IN6_IS_ADDR_UNSPECIFIED(&local.v6.sin6_addr)) return false;
  uint16_t port = local.v6.sin6_port;
  local.v4 = {};
  local.v4.sin_family = AF_INET;
  local.v4.sin_port = port;
  local.len = sizeof(sockaddr_in);
  return true;
}

Socket Open(Napi::Env env, Destination local, const SocketSpec& spec) {
  Socket s{socket(local.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), local.sa.sa_family};
  if (s.fd < 0 && errno == EAFNOSUPPORT && FallBackToV4(local)) {
    s = {socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), AF_INET};
  }
  if (s.fd < 0) ThrowSyscallError(env, "socket", errno);
  if (spec.twin) SetIntOption(s.fd, SOL_SOCKET, SO_REUSEPORT, 1);
  // Blocking or not makes no difference to us: both backends send with
  // MSG_DONTWAIT and wait for writability themselves.
  if (s.family == AF_INET6) SetIntOption(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  // Without IP_RECVERR a UDP send whose skb the qdisc drops reports success
  // (ENOBUFS is swallowed); with it the drop reaches the member's report,
  // and ICMP errors queue up naming the destination (errqueue.h).
  SetIntOption(s.fd, IPPROTO_IP, IP_RECVERR, 1);
  if (s.family == AF_INET6) SetIntOption(s.fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
  if (!spec.receives) DropIncoming(s.fd);
  s.errorRoom = GrowErrorQueue(s.fd);
  if (::bind(s.fd, &local.sa, local.len) < 0) {
    int err = errno;
    close(s.fd);
    ThrowSyscallError(env, "bind", err);
  }
  if (spec.shared && !spec.twin) SetIntOption(s.fd, SOL_SOCKET, SO_REUSEPORT, 1);
  return s;
}

}  // namespace

sockaddr_storage LocalAddress(Napi::Env env, int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) < 0) ThrowSyscallError(env, "getsockname", errno);
  return local;
}

Napi::Object LocalAddressObject(Napi::Env env, int fd) {
  sockaddr_storage local = LocalAddress(env, fd);
  bool v6 = local.ss_family == AF_INET6;
  const void* address = v6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                           : &reinterpret_cast<sockaddr_in*>(&local)->sin_addr;
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(local.ss_family, address, text, sizeof(text));
  Napi::Object result = Napi::Object::New(env);
  result.Set("address", text);
  result.Set("port", ntohs(HostPortOf(reinterpret_cast<sockaddr*>(&local)).portBe));
  result.Set("family", v6 ? "IPv6" : "IPv4");
  return result;
}

Socket OpenSocket(Napi::Env env, const SocketSpec& spec) {
  Socket s = spec.adopt >= 0 ? Adopt(env, spec.adopt) : Open(env, spec.bind, spec);
  // A relay reads its adopted socket itself (dgram no longer does): errors
  // reach it, not dgram's 'error' event.
  if (spec.adopt >= 0 && spec.receives) {
    ChangeInt(s, IPPROTO_IP, IP_RECVERR, 1);
    if (s.family == AF_INET6) ChangeInt(s, IPPROTO_IPV6, IPV6_RECVERR, 1);
  }
  try {
    if (spec.sendBufferSize && ChangeInt(s, SOL_SOCKET, SO_SNDBUF, spec.sendBufferSize) < 0) {
      ThrowSyscallError(env, "setsockopt", errno);
    }
    ApplyOptions(env, s, spec.options);
  } catch (...) {
    HandBack(s.fd, s.found);
    close(s.fd);
    throw;
  }
  return s;
}

void HandBack(int fd, const FoundOptions& found) {
  bool recvErr = false;
  for (auto saved = found.saved.rbegin(); saved != found.saved.rend(); ++saved) {
    FoundOptions::Saved value = *saved;
    if (value.level == SOL_SOCKET && value.name == SO_SNDBUF) {
      // The kernel reports the buffer it made, twice what was asked.
      int bytes;
      std::memcpy(&bytes, value.value, sizeof(bytes));
      bytes /= 2;
      std::memcpy(value.value, &bytes, sizeof(bytes));
    }
    setsockopt(fd, value.level, value.name, value.value, value.length);
    recvErr |= (value.level == IPPROTO_IP && value.name == IP_RECVERR) || (value.level == IPPROTO_IPV6 && value.name == IPV6_RECVERR);
  }
  if (recvErr && !IntOption(fd, IPPROTO_IP, IP_RECVERR) && !IntOption(fd, IPPROTO_IPV6, IPV6_RECVERR)) {
    IntOption(fd, SOL_SOCKET, SO_ERROR);
  }
}

Socket Twin(Napi::Env env, const SocketSpec& spec, const Socket& first) {
  SocketSpec twin = spec;
  if (spec.adopt >= 0) {
    twin.adopt = first.fd;
  } else {
    sockaddr_storage local = LocalAddress(env, first.fd);
    twin.bind.len = local.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    std::memcpy(&twin.bind.sa, &local, twin.bind.len);
    twin.twin = true;
  }
  return OpenSocket(env, twin);
}

}  // namespace sendgroup

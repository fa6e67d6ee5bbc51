#include "socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace sendgroup {

namespace {

int SetIntOption(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}

Socket Adopt(Napi::Env env, int userFd) {
  int type = 0;
  socklen_t length = sizeof(type);
  if (getsockopt(userFd, SOL_SOCKET, SO_TYPE, &type, &length) < 0) ThrowSyscallError(env, "getsockopt", errno);
  if (type != SOCK_DGRAM) ThrowTypeError(env, "socket must be a UDP socket");
  sockaddr_storage local{};
  length = sizeof(local);
  if (getsockname(userFd, reinterpret_cast<sockaddr*>(&local), &length) < 0) ThrowSyscallError(env, "getsockname", errno);
  // Our own descriptor for the user's socket: closing the Sender closes
  // only it. IP_RECVERR is left off on purpose: it would turn ICMP errors
  // into receive errors that dgram emits as 'error' on the user's socket.
  Socket s{fcntl(userFd, F_DUPFD_CLOEXEC, 0), local.ss_family};
  if (s.fd < 0) ThrowSyscallError(env, "fcntl", errno);
  return s;
}

// [::] on a host without IPv6: the same port on 0.0.0.0 is what was meant.
bool FallBackToV4(Target& local) {
  if (local.sa.sa_family != AF_INET6 || !IN6_IS_ADDR_UNSPECIFIED(&local.v6.sin6_addr)) return false;
  uint16_t port = local.v6.sin6_port;
  local.v4 = {};
  local.v4.sin_family = AF_INET;
  local.v4.sin_port = port;
  local.len = sizeof(sockaddr_in);
  return true;
}

Socket Open(Napi::Env env, Target local) {
  Socket s{socket(local.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), local.sa.sa_family};
  if (s.fd < 0 && errno == EAFNOSUPPORT && FallBackToV4(local)) {
    s = {socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), AF_INET};
  }
  if (s.fd < 0) ThrowSyscallError(env, "socket", errno);
  // Blocking or not makes no difference to us: both backends send with
  // MSG_DONTWAIT and wait for writability themselves.
  if (s.family == AF_INET6) SetIntOption(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  // Without IP_RECVERR a UDP send whose skb the qdisc drops reports success
  // (ENOBUFS is swallowed); with it the drop reaches the member's report,
  // and ICMP errors queue up naming the destination (errqueue.h).
  SetIntOption(s.fd, IPPROTO_IP, IP_RECVERR, 1);
  if (s.family == AF_INET6) SetIntOption(s.fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
  if (::bind(s.fd, &local.sa, local.len) < 0) {
    int err = errno;
    close(s.fd);
    ThrowSyscallError(env, "bind", err);
  }
  return s;
}

}  // namespace

Socket OpenSocket(Napi::Env env, const SocketSpec& spec) {
  Socket s = spec.adopt >= 0 ? Adopt(env, spec.adopt) : Open(env, spec.bind);
  if (spec.sendBufferSize && SetIntOption(s.fd, SOL_SOCKET, SO_SNDBUF, spec.sendBufferSize) < 0) {
    int err = errno;
    close(s.fd);
    ThrowSyscallError(env, "setsockopt", err);
  }
  return s;
}

}  // namespace sendgroup

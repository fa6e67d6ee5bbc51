#include "errqueue.h"

#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sendgroup {

namespace {

// What an ICMP error says about the destination rather than about the path
// (ICMP_FRAG_NEEDED is a path MTU matter and never reaches the queue unless
// IP_PMTUDISC_DO is set, which we do not).
bool IsUnreachable(const sock_extended_err& ee) {
  if (ee.ee_origin == SO_EE_ORIGIN_ICMP) return ee.ee_type == ICMP_DEST_UNREACH && ee.ee_code != ICMP_FRAG_NEEDED;
  return ee.ee_origin == SO_EE_ORIGIN_ICMP6 && ee.ee_type == ICMPV6_DEST_UNREACH;
}

const sock_extended_err* ExtendedError(msghdr& msg) {
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    bool v4 = cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR;
    bool v6 = cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR;
    if (v4 || v6) return reinterpret_cast<const sock_extended_err*>(CMSG_DATA(cm));
  }
  return nullptr;
}

}  // namespace

bool IcmpErrno(int err) {
  switch (err) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN: case ENONET:
    case EPROTO: case ENOPROTOOPT: case EACCES: case EMSGSIZE: case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

void ErrorQueue::StartRound() {
  drainedThisRound_ = false;
  lastRound_ = std::move(proofs_);
  proofs_.clear();
}

bool ErrorQueue::Use(Proofs& proofs, int err) {
  for (auto& [proven, count] : proofs) {
    if (proven == err && count) {
      --count;
      return true;
    }
  }
  return false;
}

bool ErrorQueue::Stale(int err) {
  if (!IcmpErrno(err)) return false;
  // The entry that proves it is still queued: nothing read the queue
  // between the failed send and here, or it was read this round.
  if (!drainedThisRound_) Drain();
  bool stale = Use(proofs_, err) || Use(lastRound_, err) || err == ECONNREFUSED;
  if (stale) ++staleRetries_;
  return stale;
}

void ErrorQueue::Drain() {
  drainedThisRound_ = true;
  // The payload copy in each entry is of no use: a short buffer, truncated.
  uint8_t data[1];
  alignas(cmsghdr) uint8_t control[512];
  for (;;) {
    sockaddr_storage destination{};
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_name = &destination;
    msg.msg_namelen = sizeof(destination);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: empty (and the socket error cleared)
    }
    const sock_extended_err* ee = ExtendedError(msg);
    if (!ee) continue;
    // Local errors (EMSGSIZE from our own oversized send) were already
    // returned by that send; only ICMP ones can fail someone else's.
    if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) continue;
    int err = int(ee->ee_errno);
    auto proof = std::find_if(proofs_.begin(), proofs_.end(), [err](const auto& p) { return p.first == err; });
    if (proof == proofs_.end()) proofs_.push_back({err, 1});
    else ++proof->second;
    if (IsUnreachable(*ee)) unreachable_.push_back({destination, err});
  }
}

}  // namespace sendgroup

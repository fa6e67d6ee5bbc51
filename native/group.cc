#include "group.h"

#include <arpa/inet.h>
#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "compat.h"

namespace sendgroup {

namespace {

// Each retry needs a fresh ICMP entry with the same errno as proof, so live
// members rarely need more than one; the cap only ends a member whose own
// error (a route's EHOSTUNREACH) coincides with such entries round after round.
constexpr uint8_t kMaxStaleRetries = 16;

void ToV4(const uint8_t* member, uint16_t portBe, Target& t) {
  t.v4 = {};
  t.v4.sin_family = AF_INET;
  t.v4.sin_port = portBe;
  std::memcpy(&t.v4.sin_addr, member + 8, 4);
  t.len = sizeof(sockaddr_in);
}

void ToV6(const uint8_t* member, uint16_t portBe, bool mapped, Target& t) {
  t.v6 = {};
  t.v6.sin6_family = AF_INET6;
  t.v6.sin6_port = portBe;
  if (mapped) {
    t.v6.sin6_addr.s6_addr[10] = 0xff;
    t.v6.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&t.v6.sin6_addr.s6_addr[12], member + 8, 4);
  } else {
    std::memcpy(&t.v6.sin6_addr, member + 8, 16);
    uint32_t scope;
    std::memcpy(&scope, member + 4, 4);
    t.v6.sin6_scope_id = scope;
  }
  t.len = sizeof(sockaddr_in6);
}

}  // namespace

bool ParseTargets(const uint8_t* table, size_t count, int socketFamily, std::vector<Target>& out) {
  out.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* member = table + i * kMemberBytes;
    uint16_t portBe;
    std::memcpy(&portBe, member + 2, 2);
    Target& t = out[i];
    if (member[0] == 4) {
      if (socketFamily == AF_INET) ToV4(member, portBe, t);
      else ToV6(member, portBe, true, t);
    } else if (member[0] == 6) {
      ToV6(member, portBe, false, t);
      // An IPv4 socket cannot reach an IPv6 member; say so per member.
      if (socketFamily == AF_INET) t.err = EAFNOSUPPORT;
    } else {
      return false;
    }
  }
  return true;
}

void Batch::CancelQueued() {
  aborted = true;
  while (HasQueued()) {
    uint32_t i = PeekQueued();
    PopQueued();
    Record(i, -ECANCELED);
  }
}

void Batch::PopQueued() {
  if (retries.empty()) ++next;
  else retries.pop_back();
}

bool Batch::TakeStaleRetry(uint32_t i) {
  if (retried.empty()) retried.resize(Count());
  if (retried[i] >= kMaxStaleRetries) return false;
  ++retried[i];
  return true;
}

bool Batch::ForceCopy(uint32_t i, int err) {
  if (copyForced.empty()) copyForced.resize(Count());
  if (copyForced[i]) return false;
  copyForced[i] = err;
  return true;
}

void Batch::SortErrors() {
  bool sorted = true;
  for (size_t i = 2; i < errors.size() && sorted; i += 2) sorted = errors[i - 2] < errors[i];
  if (sorted) return;
  std::vector<std::pair<int32_t, int32_t>> pairs(errors.size() / 2);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i] = {errors[2 * i], errors[2 * i + 1]};
  std::sort(pairs.begin(), pairs.end());
  for (size_t i = 0; i < pairs.size(); ++i) {
    errors[2 * i] = pairs[i].first;
    errors[2 * i + 1] = pairs[i].second;
  }
}

ZeroCopy Batch::ZeroCopyOutcome() const {
  if (!zeroCopy) return ZeroCopy::kOff;
  if (zcCopied) return ZeroCopy::kCopied;
  // A notification without REPORT_USAGE says nothing, and a failed send may
  // post one too: zero-copied means some member's send was accepted.
  return zcAccepted ? ZeroCopy::kZeroCopied : ZeroCopy::kOff;
}

void Batch::Record(uint32_t i, int result) {
  state[i] = MemberState::kDone;
  ++done;
  if (result >= 0) {
    ++sent;
    bytes += result;
  } else {
    ++failed;
    errors.push_back(int32_t(i));
    errors.push_back(-result);
  }
  if (stream) {
    progress.push_back(int32_t(i));
    progress.push_back(result);
  }
}

void Batch::Place(uint8_t* dest, const uint8_t* payloadSource) {
  // An empty view may have no data pointer at all; memcpy from null is
  // undefined even for zero bytes.
  if (payloadLength) std::memcpy(dest, payloadSource, payloadLength);
  payload = dest;
  uint8_t* cursor = dest + payloadLength;
  for (Extras* extras : {&prefix, &suffix}) {
    if (extras->Empty()) continue;
    extras->bytes = cursor;
    for (size_t i = 0; i < extras->sources.size(); ++i) {
      if (extras->Length(i)) std::memcpy(cursor + extras->offsets[i], extras->sources[i], extras->Length(i));
    }
    cursor += extras->Total();
    // The caller's buffers may change once the call returns.
    extras->sources.clear();
    extras->sources.shrink_to_fit();
  }
  if (segmentSize) {
    cmsghdr* cm = reinterpret_cast<cmsghdr*>(control);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    std::memcpy(CMSG_DATA(cm), &segmentSize, sizeof(uint16_t));
  }
}

void Batch::FillMessage(uint32_t i, msghdr& m, iovec* iov) {
  size_t n = 0;
  // Empty parts are left out: a zero-length segment of a registered buffer
  // fails with EFAULT.
  if (prefix.Length(i)) iov[n++] = {prefix.bytes + prefix.offsets[i], prefix.Length(i)};
  if (payloadLength) iov[n++] = {payload, payloadLength};
  if (suffix.Length(i)) iov[n++] = {suffix.bytes + suffix.offsets[i], suffix.Length(i)};
  m = {};
  m.msg_name = &targets[i].sa;
  m.msg_namelen = targets[i].len;
  m.msg_iov = iov;
  m.msg_iovlen = n;
  if (segmentSize) {
    // One cmsg shared by every member: the kernel only reads it.
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
  }
}

msghdr* Batch::Message(uint32_t i) {
  if (msgs.empty()) {
    msgs.resize(Count());
    iovs.resize(size_t(Count()) * kMaxIov);
  }
  FillMessage(i, msgs[i], &iovs[size_t(i) * kMaxIov]);
  return &msgs[i];
}

}  // namespace sendgroup

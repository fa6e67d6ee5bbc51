// A group snapshot turned into kernel addresses, and the state of one send
// of one payload to it (a Batch), shared by every backend.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sendgroup {

// Layout of one member in the table lib/group.ts packs (kMemberBytes each):
// [0] family 4|6, [2..3] port (network order), [4..7] IPv6 scope id (little
// endian), [8..23] address (IPv4 uses the first four bytes).
constexpr size_t kMemberBytes = 24;

struct Target {
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  socklen_t len = 0;
  int err = 0;  // non-zero: this member cannot be sent on this socket
};

// Converts count packed members for a socket of socketFamily (AF_INET or
// AF_INET6; a dual-stack AF_INET6 socket reaches IPv4 members v4-mapped).
// Returns false when the table is malformed.
bool ParseTargets(const uint8_t* table, size_t count, int socketFamily, std::vector<Target>& out);

// kInFlightZeroCopy: in flight as a zero-copy op (its user_data says so).
enum class MemberState : uint8_t { kQueued, kInFlight, kInFlightZeroCopy, kDone };
enum class ZeroCopy : uint8_t { kOff = 0, kZeroCopied = 1, kCopied = 2 };

// Per-recipient bytes: member i's are bytes + [offsets[i], offsets[i + 1]).
// sources point into the caller's buffers and are valid only during the
// call that builds the batch; Batch::Place copies them next to the payload.
struct Extras {
  std::vector<uint32_t> offsets;
  std::vector<const uint8_t*> sources;
  uint8_t* bytes = nullptr;
  bool Empty() const { return offsets.empty(); }
  size_t Total() const { return offsets.empty() ? 0 : offsets.back(); }
  size_t Length(size_t i) const { return offsets.empty() ? 0 : offsets[i + 1] - offsets[i]; }
};

struct Batch {
  uint32_t token = 0;  // lib's handle for the call
  uint32_t id = 0;     // the backend's handle, part of every SQE's user_data
  bool stream = false;
  bool zeroCopy = false;
  uint16_t segmentSize = 0;
  std::vector<Target> targets;
  Extras prefix, suffix;

  // The one copy of payload and extras, [payload | prefixes | suffixes]: a
  // ring slot, or heapCopy when no slot was free or it does not fit.
  uint8_t* payload = nullptr;
  size_t payloadLength = 0;
  int slot = -1;
  std::vector<uint8_t> heapCopy;

  std::vector<msghdr> msgs;
  std::vector<iovec> iovs;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(uint16_t))] = {};

  std::vector<MemberState> state;
  std::vector<uint32_t> retries;  // members to send again, before `next`
  std::vector<uint8_t> retried;   // stale-error retries per member; sized on first
  std::vector<int> copyForced;    // errno that forced a copy retry; sized on first
  // Notifications still to come for zero-copy attempts that failed: they
  // say nothing about how data was sent (a failed send reports 'copied').
  std::vector<uint8_t> failedNotifs;  // sized on first
  uint32_t next = 0;      // first member never yet submitted
  uint32_t done = 0;      // members with a result
  uint32_t inflight = 0;  // members handed to the kernel without a result yet
  int32_t notifsPending = 0;
  bool queued = false;
  bool touched = false;
  bool aborted = false;
  bool zcCopied = false;    // some member's data was copied after all
  bool zcAccepted = false; // some member's zero-copy send was accepted

  uint32_t sent = 0, failed = 0;
  double bytes = 0;
  std::vector<int32_t> errors;    // (member, errno) pairs
  std::vector<int32_t> progress;  // (member, result) pairs, streamGroup only

  uint32_t Count() const { return uint32_t(targets.size()); }
  bool HasQueued() const { return !retries.empty() || next < Count(); }
  uint32_t PeekQueued() const { return retries.empty() ? next : retries.back(); }
  void PopQueued();
  // Member i's send picked up another datagram's ICMP error (ErrorQueue
  // proved it) and goes again; false once it has gone again too often (a
  // member whose own error keeps company with a stream of ICMP errors of
  // the same errno must still end).
  bool TakeStaleRetry(uint32_t i);
  // Marks member i to be sent by copy from now on, because zero-copy failed
  // with err; false if it already was.
  bool ForceCopy(uint32_t i, int err);
  int CopyForcedBy(uint32_t i) const { return copyForced.empty() ? 0 : copyForced[i]; }
  bool HasExtras() const { return !prefix.Empty() || !suffix.Empty(); }
  bool Finished() const { return done == Count() && inflight == 0 && notifsPending <= 0; }
  ZeroCopy ZeroCopyOutcome() const;
  // Puts errors in member order (completion order is the kernel's).
  void SortErrors();
  // Records member i's result: bytes sent, or a negative errno.
  void Record(uint32_t i, int result);
  // Abort: members not yet handed to the kernel fail with ECANCELED, and
  // nothing is retried any more.
  void CancelQueued();
  size_t CopyLength() const { return payloadLength + prefix.Total() + suffix.Total(); }
  // Copies payload and extras to dest (CopyLength() bytes), the only copy,
  // and writes the GSO cmsg.
  void Place(uint8_t* dest, const uint8_t* payloadSource);
  // Member i's msghdr: [prefix_i, payload, suffix_i] (iov holds kMaxIov) and,
  // with GSO, the UDP_SEGMENT cmsg.
  static constexpr size_t kMaxIov = 3;
  void FillMessage(uint32_t i, msghdr& m, iovec* iov);
  // The same, kept in the batch until it is destroyed (io_uring reads it
  // after submission).
  msghdr* Message(uint32_t i);
};

}  // namespace sendgroup

// One call: the payload sent to every member of a group snapshot. What to
// send (Transmit, fixed once the call starts), where its bytes were copied,
// and member by member how far it got and what came of it. Both backends
// work on Batches; what only io_uring needs lives in its own record
// (uring_backend.h).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "member_table.h"
#include "slot_pool.h"

namespace sendgroup {

enum class ZeroCopy : uint8_t { kOff = 0, kZeroCopied = 1, kCopied = 2 };

// Per-recipient bytes: member i's are [starts[i], starts[i] + lengths[i])
// of their region of the call's copy (a part of a call split across threads
// names its own members' places in the whole call's region); empty when
// the call has none.
struct Extras {
  std::vector<uint32_t> starts, lengths;
  size_t total = 0;  // bytes of the region
  bool Empty() const { return starts.empty(); }
  size_t Total() const { return total; }
  size_t Length(size_t i) const { return lengths.empty() ? 0 : lengths[i]; }
};

// What a call asks for, as lib/ described it (quinn-udp's Transmit).
struct Transmit {
  uint32_t token = 0;  // lib's handle for the call
  bool stream = false;
  bool zeroCopy = false;
  uint16_t segmentSize = 0;  // UDP GSO; 0: one datagram per member
  // Shared and never changed once a call has it: a relay's datagrams all
  // send to the relay's table as it stood when each arrived.
  std::shared_ptr<const std::vector<Destination>> destinations;
  Extras prefix, suffix;
  size_t payloadLength = 0;
  // A part of a call split across threads: its member i is the call's
  // member (*memberOf)[i]. Shared, like destinations, by the parts of every
  // call to the same table. Null for a whole call.
  std::shared_ptr<const std::vector<uint32_t>> memberOf;

  uint32_t Count() const { return destinations ? uint32_t(destinations->size()) : 0; }
  const Destination& To(uint32_t i) const { return (*destinations)[i]; }
  uint32_t WholeIndex(uint32_t i) const { return memberOf ? (*memberOf)[i] : i; }
  bool HasExtras() const { return !prefix.Empty() || !suffix.Empty(); }
  // One buffer per send, no per-member parts and no cmsg.
  bool Plain() const { return !HasExtras() && segmentSize == 0; }
  size_t CopyLength() const { return payloadLength + prefix.Total() + suffix.Total(); }
  // Bytes member i's send carries.
  size_t SendLength(uint32_t i) const { return prefix.Length(i) + payloadLength + suffix.Length(i); }
};

// The one copy of a call split across threads: every part reads it, and
// the slot goes back to its pool with the last part (parts come back to the
// JavaScript thread, the pool's only user, to be merged).
struct SharedCopy {
  // A slot of pool (or the heap, where none is free or it is too small).
  SharedCopy(SlotPool* pool, size_t length);
  // Bytes someone else keeps (a relay's receive buffer, slot of the pool
  // the rings registered); done runs when the last part is gone.
  SharedCopy(uint8_t* bytes, int slot, std::function<void()> done);
  ~SharedCopy();
  SharedCopy(const SharedCopy&) = delete;
  SharedCopy& operator=(const SharedCopy&) = delete;
  uint8_t* data = nullptr;
  int slot = -1;  // a registered slot of pool, or -1: heap
  SlotPool* pool = nullptr;
  std::vector<uint8_t> heap;
  std::function<void()> done;
};

// Where the caller's bytes are: valid only while the call that starts the
// batch runs (Batch::Place copies them).
struct Sources {
  const uint8_t* payload = nullptr;
  std::vector<const uint8_t*> prefix, suffix;  // one per member, or empty
};

class Batch {
 public:
  explicit Batch(Transmit transmit) : tx(std::move(transmit)) {}

  const Transmit tx;

  // The one copy of payload and extras, [payload | prefixes | suffixes]:
  // Place copies them to dest (tx.CopyLength() bytes) and writes the GSO cmsg.
  void Place(uint8_t* dest, const Sources& sources);
  // Places into memory of the batch's own, where no ring slot holds it.
  void PlaceOnHeap(const Sources& sources);
  // Points at the caller's bytes instead of copying them, for a lone member
  // sent before the call returns (it has offset 0 in its extras); Place
  // makes the copy if it must wait after all.
  void Borrow(const Sources& sources);
  // A part of a call: reads the call's copy (placed there by the call's
  // Batch::Place, in the call's layout) and keeps it alive.
  void PlaceShared(std::shared_ptr<SharedCopy> copy);
  const uint8_t* Payload() const { return payload_; }
  bool Placed() const { return placed_; }
  // The registered slot of a shared copy, or -1.
  int SharedSlot() const { return shared_ ? shared_->slot : -1; }
  const std::shared_ptr<SharedCopy>& Shared() const { return shared_; }
  // Member i's msghdr: [prefix_i, payload, suffix_i] (iov holds kMaxIov) and,
  // with GSO, the UDP_SEGMENT cmsg.
  static constexpr size_t kMaxIov = 3;
  void FillMessage(uint32_t i, msghdr& m, iovec* iov);
  // The same, kept until the batch is destroyed (io_uring reads it after
  // submission).
  msghdr* Message(uint32_t i);

  // Members waiting to be sent: retries first, then the next never sent.
  bool HasQueued() const { return !retries_.empty() || next_ < tx.Count(); }
  uint32_t PeekQueued() const { return retries_.empty() ? next_ : retries_.back(); }
  void PopQueued();
  // Member i goes again (its send found the buffer full, or was failed by
  // another datagram's error).
  void Requeue(uint32_t i) { retries_.push_back(i); }
  // Records member i's result: bytes sent, or a negative errno.
  void Record(uint32_t i, int result);
  // The next count queued members, first on, left in one sendmmsg(2):
  // taken off the queue, each recorded with its msg_len.
  void RecordSent(uint32_t first, const mmsghdr* msgs, unsigned count);
  // Abort: members not yet handed to the kernel fail with ECANCELED, and
  // nothing is sent again any more.
  void CancelQueued();
  bool Aborted() const { return aborted_; }
  bool AllRecorded() const { return done_ == tx.Count(); }
  uint32_t Recorded() const { return done_; }

  // Per member (sized on first use), an ENOBUFS that may have been a lack
  // of room (Backend::RoomMayCure): the room its fragments need before it
  // goes again (0: none), and whether it went so (Backend::AwaitsRoom);
  // and how often the call's held members found the room not there yet.
  struct RoomWait {
    uint32_t charge = 0;
    bool wentWithRoom = false;
  };
  std::vector<RoomWait> roomWaitOf;
  uint32_t roomLooks = 0;
  bool HeldForRoom(uint32_t i) const { return !roomWaitOf.empty() && roomWaitOf[i].charge && !roomWaitOf[i].wentWithRoom; }
  bool WentWithRoom(uint32_t i) const { return !roomWaitOf.empty() && roomWaitOf[i].wentWithRoom; }

  // Results.
  uint32_t sent = 0, failed = 0;
  double bytes = 0;
  bool zcCopied = false;    // some member's data was copied after all
  bool zcAccepted = false;  // some member's zero-copy send was accepted
  std::vector<int32_t> errors;    // (member, errno) pairs
  std::vector<int32_t> progress;  // (member, bytes, errno) triples not yet delivered, streams only
  bool hasNewProgress = false;    // listed for delivery already
  ZeroCopy ZeroCopyOutcome() const;
  // Puts errors in member order (completion order is the kernel's).
  void SortErrors();
  // Adds a finished part's results to this (the whole call's).
  void MergePart(const Batch& part);

 private:
  const uint8_t* payload_ = nullptr;
  const uint8_t* prefixBytes_ = nullptr;
  const uint8_t* suffixBytes_ = nullptr;
  bool placed_ = false;
  std::vector<uint8_t> heapCopy_;
  std::shared_ptr<SharedCopy> shared_;
  std::vector<msghdr> msgs_;
  std::vector<iovec> iovs_;
  alignas(cmsghdr) uint8_t control_[CMSG_SPACE(sizeof(uint16_t))] = {};
  void WriteSegmentCmsg();

  std::vector<uint32_t> retries_;
  uint32_t next_ = 0;                  // first member never yet taken
  uint32_t done_ = 0;                  // members with a result
  bool aborted_ = false;
};

}  // namespace sendgroup

#include "backend.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

namespace sendgroup {

namespace {

// Members per sendmmsg call: the kernel's own cap (UIO_MAXIOV).
constexpr unsigned kChunk = 1024;
// A datagram this large fits an Ethernet frame (MTU 1,500 less the IPv4
// and UDP headers): not fragmented on common paths, so its ENOBUFS is a
// drop (RoomMayCure).
constexpr size_t kUnfragmentedBytes = 1472;
// What a datagram's fragments can charge the send buffer, per byte of it:
// a skb each, 1.6 times its bytes at MTU 1,500, 1.9 at 1,280 (IPv6's
// least) and at 9,000, past three only below an MTU of about 500.
constexpr size_t kFragmentCharge = 3;
// Looks a call's held members may take for their room (AwaitsRoom), a turn
// of the loop each, a few microseconds: a few tenths of a second, after
// which they go anyway (the socket may be shared, by threads or by the
// user's own sends on an adopted one, and never drain).
constexpr uint32_t kRoomLooksPerCall = 65536;

// Runs each over what list holds, taken first: what each adds waits for the
// next collection. The list keeps its capacity, so collecting after every
// send (a relay's datagram) allocates nothing.
template <typename T, typename Each>
void ForEachTaken(std::vector<T>& list, Each each) {
  std::vector<T> taken;
  taken.swap(list);
  for (T& item : taken) each(item);
  taken.clear();
  if (list.empty()) list.swap(taken);
}

}  // namespace

bool Backend::SendDirect(Batch& batch) {
  if (int err = batch.tx.To(0).err) {
    batch.Record(0, -err);
    return true;
  }
  msghdr msg;
  iovec iov[Batch::kMaxIov];
  batch.FillMessage(0, msg, iov);
  for (;;) {
    errors_.StartRound();
    ssize_t sent;
    int err;
    {
      auto sending = errors_.Sending();
      sent = sendmsg(fd_, &msg, MSG_DONTWAIT);
      err = errno;
    }
    if (sent >= 0) {
      batch.Record(0, int(sent));
      return true;
    }
    if (NoRoom(batch, 0, err)) return false;
    if (err == EINTR || errors_.Stale(err)) continue;
    batch.Record(0, -err);
    return true;
  }
}

Backend::Chunk Backend::SendChunk(Batch& batch) {
  // A chunk is consecutive members from the first queued one; a member the
  // socket cannot reach at all (Destination::err) ends it and is recorded
  // on its own.
  uint32_t first = batch.PeekQueued();
  if (RecordUnsendable(batch, first)) return Chunk::kOn;
  if (AwaitsRoom(batch, first)) return Chunk::kFull;
  mmsghdr* msgs;
  unsigned n = Messages(batch, first, &msgs);
  errors_.StartRound();
  int sent, err = 0;
  {
    auto sending = errors_.Sending();
    sent = sendmmsg(fd_, msgs, n, MSG_DONTWAIT);
    if (sent < 0) err = errno;
  }
  if (sent < 0) {
    if (NoRoom(batch, first, err)) return Chunk::kFull;
    if (err != EINTR) Failed(batch, first, err);
    return Chunk::kFailed;
  }
  // A short count drops the failed message's error (it is neither returned
  // nor kept as the socket error): the next chunk begins with that member,
  // and its send says what it was, EAGAIN when the buffer is full.
  batch.RecordSent(first, msgs, unsigned(sent));
  NoteProgress(&batch);
  return Chunk::kOn;
}

bool Backend::NoRoom(Batch& batch, uint32_t i, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    // Held for room, it went and found none (a send beside it took it):
    // that try does not count; it is held again.
    if (batch.WentWithRoom(i)) batch.roomWaitOf[i].wentWithRoom = false;
    return true;
  }
  return err == ENOBUFS && RoomMayCure(batch, i);
}

bool Backend::RoomMayCure(Batch& batch, uint32_t i) {
  // A GSO send is one skb, allocated waiting for room like any datagram
  // that is not fragmented: its ENOBUFS is a drop.
  size_t length = batch.tx.SendLength(i);
  if (length <= kUnfragmentedBytes || batch.tx.segmentSize || batch.Aborted()) return false;
  if (sendBuffer_ < 0) {
    socklen_t size = sizeof(sendBuffer_);
    if (getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sendBuffer_, &size) < 0) sendBuffer_ = INT_MAX;
  }
  // A datagram under a quarter of the buffer always finds room (the kernel
  // fails it only past twice the buffer, and the socket polls writable
  // below half).
  if (length * 4 <= size_t(sendBuffer_)) return false;
  // It went once the room was there (AwaitsRoom) and failed again.
  if (batch.WentWithRoom(i)) return false;
  size_t queued, buffer;
  if (!SendMemory(&queued, &buffer)) return false;
  // The kernel refuses a later fragment only while what the socket has
  // queued plus the fragments made so far pass twice its buffer; below
  // that, the qdisc dropped a fragment after earlier ones had left.
  // (Looked at after the ring's round: its later sends make the room look
  // shorter, the link's draining meanwhile larger; on a fast link a lack
  // of room may pass for a drop, reported as bug 14 once was.)
  size_t charge = kFragmentCharge * length;
  if (queued + charge <= 2 * buffer) return false;
  if (batch.roomWaitOf.empty()) batch.roomWaitOf.resize(batch.tx.Count());
  batch.roomWaitOf[i].charge = uint32_t(charge);
  return true;
}

// A member whose ENOBUFS may have been a lack of room (RoomMayCure) goes
// again only once the socket has it, or holds nothing: a qdisc's drop
// looks the same, and each try would put another partial train of
// fragments on the link, filling the receivers' reassembly memory until
// whole datagrams were lost too. Another ENOBUFS then is final. Until
// then the socket is polled for writability, which it reports below half
// its buffer: the wait spins as dgram's does, a look a turn, at most
// kRoomLooksPerCall. What sends beside it take meanwhile (other threads on
// a shared socket) is not seen; a member that then finds no room at all
// (EAGAIN) is held again (NoRoom).
bool Backend::AwaitsRoom(Batch& batch, uint32_t i) {
  if (!batch.HeldForRoom(i)) return false;
  Batch::RoomWait& member = batch.roomWaitOf[i];
  size_t queued, buffer;
  if (batch.roomLooks < kRoomLooksPerCall && SendMemory(&queued, &buffer) && queued > 0 &&
      queued + member.charge > 2 * buffer) {
    ++batch.roomLooks;
    return true;
  }
  member.wentWithRoom = true;
  return false;
}

// What the socket has queued (and charged) and its buffer, SO_SNDBUF.
bool Backend::SendMemory(size_t* queued, size_t* buffer) const {
  uint32_t memory[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(memory);
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, memory, &length) < 0) return false;
  *queued = memory[SK_MEMINFO_WMEM_ALLOC];
  *buffer = memory[SK_MEMINFO_SNDBUF];
  return true;
}

bool Backend::RecordUnsendable(Batch& batch, uint32_t i) {
  int err = batch.tx.To(i).err;
  if (!err) return false;
  batch.PopQueued();
  batch.Record(i, -err);
  NoteProgress(&batch);
  return true;
}

unsigned Backend::Messages(Batch& batch, uint32_t first, mmsghdr** from) {
  const Transmit& tx = batch.tx;
  // A plain send is one buffer, the same for every member: its messages
  // point at payloadIov_, so the next call to the same table (a relay's
  // next datagram, a group sent to again) refills none of them.
  bool plain = tx.Plain() && tx.payloadLength;
  if (plain) payloadIov_ = {const_cast<uint8_t*>(batch.Payload()), tx.payloadLength};
  bool filled = plain ? FilledFor(tx.destinations) : filledBatch_ == &batch;
  if (!filled || first < filledFirst_ || first >= filledFirst_ + filledCount_) Fill(batch, first, plain);
  unsigned skip = first - filledFirst_;
  *from = &msgs_[skip];
  return filledCount_ - skip;
}

void Backend::Fill(Batch& batch, uint32_t first, bool plain) {
  if (msgs_.empty()) {
    msgs_.resize(kChunk);
    iovs_.resize(size_t(kChunk) * Batch::kMaxIov);
  }
  const Transmit& tx = batch.tx;
  unsigned limit = std::min(kChunk, roundLimit_), n = 0;
  for (; n < limit && first + n < tx.Count() && !tx.To(first + n).err; ++n) {
    msghdr& m = msgs_[n].msg_hdr;
    batch.FillMessage(first + n, m, &iovs_[size_t(n) * Batch::kMaxIov]);
    if (plain) m.msg_iov = &payloadIov_;  // its one part, re-pointed per call
  }
  filledBatch_ = plain ? nullptr : &batch;
  if (plain) filledTable_ = tx.destinations;
  else filledTable_.reset();
  filledFirst_ = first;
  filledCount_ = n;
}

void Backend::Failed(Batch& batch, uint32_t i, int err) {
  if (errors_.Stale(err)) return;
  batch.PopQueued();
  batch.Record(i, -err);
  NoteProgress(&batch);
}

void Backend::Collect(ResultSink& sink) {
  ForEachTaken(progressed_, [&sink](Batch* batch) {
    batch->hasNewProgress = false;
    sink.Progress(*batch);
  });
  ForEachTaken(finished_, [&sink](std::unique_ptr<Batch>& batch) { sink.Done(*batch); });
  for (const Unreachable& u : TakeUnreachable()) sink.Unreachable(u);
}

}  // namespace sendgroup

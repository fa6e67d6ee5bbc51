#include "backend.h"

#include <fcntl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace sendgroup {

namespace {

// Members per sendmmsg call: the kernel's own cap (UIO_MAXIOV).
constexpr unsigned kChunk = 1024;
// A datagram this large fits an Ethernet frame (MTU 1,500 less the IPv4
// and UDP headers): not fragmented on common paths, so its ENOBUFS is a
// drop (RoomMayCure).
constexpr size_t kUnfragmentedBytes = 1472;
// Waits for room after ENOBUFS (RoomMayCure). The socket polls writable
// below half its buffer, and a fragmented datagram may need it nearly
// empty: the wait spins (as dgram's does) until the queue drains, a few
// microseconds a turn. 1,024 turns bound a member to a few milliseconds (a
// 9,000-B datagram at 30 Mbit/s took up to 200), 65,536 a call to a few
// tenths of a second; past them the ENOBUFS is reported.
constexpr uint16_t kRoomWaitsPerMember = 1024;
constexpr uint32_t kRoomWaitsPerCall = 65536;
// Of them, tries in a row that find the socket's queue empty.
constexpr uint8_t kRoomEmptyTries = 8;
// What a datagram's fragments can charge the send buffer, per byte of it:
// a skb each, about three times its bytes at small MTUs (RoomMayCure).
constexpr size_t kFragmentCharge = 3;
// What one zero-copy send's notification charges the socket's option
// memory (a small skb, under 1 KiB), with room to spare.
constexpr size_t kNotificationCharge = 4096;

// net.core.optmem_max of the namespace the process runs in; 0 when unknown.
size_t OptionMemoryMax() {
  int fd = open("/proc/sys/net/core/optmem_max", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32] = "";
  ssize_t got = read(fd, text, sizeof(text) - 1);
  close(fd);
  return got > 0 ? size_t(strtoul(text, nullptr, 10)) : 0;
}

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
  return err == EAGAIN || err == EWOULDBLOCK || (err == ENOBUFS && RoomMayCure(batch, i));
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
  // Fragments charge the buffer an skb each, up to about three times the
  // datagram's bytes at small MTUs: a datagram under a quarter of the
  // buffer always finds room (the kernel fails it only past twice the
  // buffer, and the socket polls writable below half).
  if (length * 4 <= size_t(sendBuffer_)) return false;
  if (batch.roomWaits >= kRoomWaitsPerCall) return false;
  if (batch.roomWaitOf.empty()) batch.roomWaitOf.resize(batch.tx.Count());
  Batch::RoomWait& member = batch.roomWaitOf[i];
  if (member.waits >= kRoomWaitsPerMember) return false;
  uint32_t memory[SK_MEMINFO_VARS] = {};
  socklen_t memoryLength = sizeof(memory);
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, memory, &memoryLength) < 0) return false;
  if (!RoomShort(batch, length, memory)) return false;
  // Datagrams still queued make room as they leave. An empty queue now
  // may have drained since the send failed, and a zero-copy send's ENOBUFS
  // can be its notification memory (optmem), which completions give back:
  // a few more tries tell; a member that keeps failing with nothing queued
  // can never fit.
  if (memory[SK_MEMINFO_WMEM_ALLOC] > 0) member.emptyInRow = 0;
  else if (++member.emptyInRow > kRoomEmptyTries) return false;
  ++member.waits;
  ++batch.roomWaits;
  return true;
}

// Whether the socket was short of memory for this ENOBUFS, or it was a
// drop. The kernel refuses a later fragment only while what the socket has
// queued plus the fragments made so far pass twice its buffer, and a
// zero-copy send's notification only while the option memory is nearly
// spent. Otherwise the qdisc dropped a fragment after earlier ones had
// left: going again would put another partial train on the link each
// time, filling the receivers' reassembly memory until whole datagrams
// were lost too. (Both only shrink between the send and this look.)
bool Backend::RoomShort(const Batch& batch, size_t length, const uint32_t* memory) {
  size_t queued = memory[SK_MEMINFO_WMEM_ALLOC];
  if (queued + kFragmentCharge * length > 2 * size_t(memory[SK_MEMINFO_SNDBUF])) return true;
  if (!batch.tx.zeroCopy) return false;
  if (optionMemoryMax_ == 0) optionMemoryMax_ = OptionMemoryMax();
  return optionMemoryMax_ == 0 || memory[SK_MEMINFO_OPTMEM] + kNotificationCharge > optionMemoryMax_;
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

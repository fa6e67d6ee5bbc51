// The send path behind a Sender. io_uring is one backend, sendmmsg (for
// where io_uring is blocked) another; both implement this interface, and
// neither lib/ nor sender.cc knows which one runs.
//
// Order: datagrams to one member leave in call order. A backend sends the
// members of one call (a Batch) before any member of the next, and a member
// that must go again (a full send buffer, another member's stale ICMP error)
// goes again before the next call's members start.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "errqueue.h"
#include "batch.h"
#include "ring.h"

namespace sendgroup {

// Whoever feeds a backend many batches in one go (a relay's wake-up takes up
// to every receive buffer's datagram; a sending thread's inbox may hold as
// many) collects its results at least this often, in member sends: at 1,000
// members, 256 datagrams are half a second in which stats() stood still and
// no receive buffer came back.
constexpr uint32_t kSendsPerResults = 4096;

// What a backend could set up, for Sender.features.
struct BackendInfo {
  const char* name = "";
  RingFeatures ring;         // io_uring only
  int zeroCopyRefused = 0;   // errno with which the kernel refused zero-copy
  double staleRetries = 0;   // sends that picked up another datagram's ICMP error and went again
  int ioUringErrno = 0;      // why io_uring is not the backend, when it is not
};

// Where an engine hands results: a Sender's outbox (for JavaScript), or a
// relay that accounts for its datagrams itself.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // A stream batch's new progress (Batch::progress, which the sink takes).
  virtual void Progress(Batch& batch) = 0;
  // A finished batch, destroyed when this returns.
  virtual void Done(Batch& batch) = 0;
  virtual void Unreachable(const struct Unreachable& u) = 0;
};

class Backend {
 public:
  // errorRoom: ICMP errors the socket's queue holds (0: none are queued).
  Backend(int fd, unsigned errorRoom) : fd_(fd), roundLimit_(errorRoom ? std::max(errorRoom, 16u) : ~0u), errors_(fd) {}
  virtual ~Backend() = default;
  // At most this many sends per round (one io_uring_enter or sendmmsg).
  void LimitRounds(unsigned sends) { roundLimit_ = std::min(roundLimit_, sends); }

  // An eventfd that turns readable when completions wait, or -1.
  virtual int RingFd() const { return -1; }
  // Whether sending waits for the socket to turn writable (its send buffer
  // is full). The socket is always watched for errors.
  virtual bool WantsWritable() const = 0;
  // Copies the caller's bytes (synchronously: the caller may reuse its
  // buffers at once) and starts sending.
  virtual void Start(std::unique_ptr<Batch> batch, const Sources& sources) = 0;
  // Members not yet sent fail with ECANCELED; no-op for an unknown token.
  virtual void Abort(uint32_t token) = 0;
  virtual void AbortAll() = 0;
  virtual void OnRingReady() {}
  // The socket turned writable, or reported POLLERR (error: its error queue
  // holds entries).
  virtual void OnSocketReady(bool error) = 0;
  virtual bool Idle() const = 0;
  // Cancels everything and waits (bounded) until the kernel no longer uses
  // any batch memory; for teardown, when no JavaScript can run.
  virtual void Drain() = 0;
  virtual BackendInfo Info() const = 0;

  // Results since the last call: stream batches with new progress, then
  // batches that finished (owned by the caller from here on), and ICMP
  // unreachable errors read from the socket.
  std::vector<Batch*> TakeProgressed() { return std::move(progressed_); }
  std::vector<std::unique_ptr<Batch>> TakeFinished() { return std::move(finished_); }
  std::vector<Unreachable> TakeUnreachable() { return errors_.TakeUnreachable(); }
  // Everything above into sink, in that order.
  void Collect(ResultSink& sink);
  double StaleRetries() const { return errors_.StaleRetries(); }

 protected:
  // Lists a stream batch whose progress JavaScript has not seen yet.
  void NoteProgress(Batch* batch) {
    if (batch->tx.stream && !batch->hasNewProgress) {
      batch->hasNewProgress = true;
      progressed_.push_back(batch);
    }
  }
  // Sends a lone member with one sendmsg(2) from wherever its bytes are:
  // nothing to batch, and cheaper than any ring round trip (bench/, n1).
  // False when the send buffer is full (the member is then still queued).
  bool SendDirect(Batch& batch);
  // How one sendmmsg(2) of a batch's next queued members ended: some of
  // them went (or the first, which the socket cannot reach, was recorded
  // on its own), the first failed (recorded, or left queued to go again
  // when the error was another datagram's), or the send buffer is full.
  enum class Chunk { kOn, kFailed, kFull };
  // One sendmmsg of up to a round of consecutive queued members.
  Chunk SendChunk(Batch& batch);
  // Whether member i's send failed (errno err) for lack of room in the
  // send buffer: EAGAIN, or an ENOBUFS that RoomMayCure. The member then
  // waits for writability and goes again.
  bool NoRoom(Batch& batch, uint32_t i, int err);
  // Whether member i's ENOBUFS may be a lack of room that waiting cures.
  // The kernel allocates a fragmented datagram's later fragments without
  // waiting and fails with ENOBUFS past twice the send buffer, where dgram
  // (libuv) waits and sends again; a qdisc's drop is ENOBUFS too, and
  // final. So: a datagram large against the send buffer, while the
  // socket's memory (SO_MEMINFO) was short of it, once (AwaitsRoom). Only
  // such datagrams pay the getsockopt that tells.
  bool RoomMayCure(Batch& batch, uint32_t i);
  // Whether member i, queued to go again, must wait longer for that room.
  bool AwaitsRoom(Batch& batch, uint32_t i);
  bool SendMemory(size_t* queued, size_t* buffer) const;
  // Queued member i, if the socket cannot reach it at all
  // (Destination::err: another family), is taken off the queue and
  // recorded failed without a send; false if it can be sent.
  bool RecordUnsendable(Batch& batch, uint32_t i);
  // The batch is done with: the messages kept filled for it must not be
  // taken for another batch allocated at its address.
  void Forget(const Batch* batch) {
    if (filledBatch_ == batch) filledBatch_ = nullptr;
  }
  int fd_;
  // Sends per system call at most. When every datagram of a round draws an
  // ICMP error at once (receivers on loopback answer inside the call), the
  // errors must all fit the error queue, or later members' would be lost.
  unsigned roundLimit_;
  ErrorQueue errors_;
  std::vector<Batch*> progressed_;
  std::vector<std::unique_ptr<Batch>> finished_;

 private:
  // msgs_ from the batch's member `first` on, filled if they are not yet;
  // how many there are.
  unsigned Messages(Batch& batch, uint32_t first, mmsghdr** from);
  // Fills msgs_ from member `first` on: a plain batch's (one buffer each)
  // for its table, any other's for the batch.
  void Fill(Batch& batch, uint32_t first, bool plain);
  // Member i's send failed with err: it goes again if the error was
  // another datagram's (ErrorQueue), else it is recorded.
  void Failed(Batch& batch, uint32_t i, int err);

  // SO_SNDBUF, read at the first ENOBUFS that needs it (a later change to
  // an adopted socket's buffer is not seen; unreadable: INT_MAX, no wait).
  int sendBuffer_ = -1;
  // Sized on first use (a backend that never sends a chunk keeps none).
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  // What msgs_ holds: members [filledFirst_, filledFirst_ + filledCount_)
  // of filledBatch_, or of any plain batch to filledTable_. A send that
  // stops at a failure goes on from the messages already filled: refilling
  // the rest of a chunk after each failure made a drop storm (every send
  // fails) quadratic in the group.
  const Batch* filledBatch_ = nullptr;
  // Weak, and compared by owner: a dropped group's table is freed (a
  // 100,000-member one is 13 MB), while the control block it keeps can
  // never be another table's, so no new table compares equal.
  std::weak_ptr<const std::vector<Destination>> filledTable_;
  bool FilledFor(const std::shared_ptr<const std::vector<Destination>>& table) const {
    return !filledTable_.owner_before(table) && !table.owner_before(filledTable_);
  }
  iovec payloadIov_ = {};  // the plain batch being sent: every message's one buffer
  uint32_t filledFirst_ = 0;
  unsigned filledCount_ = 0;
};

}  // namespace sendgroup

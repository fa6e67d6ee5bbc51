// The socket's error queue (IP_RECVERR/IPV6_RECVERR): whose datagram an
// ICMP error was about, and whether a failed send was really its own.
//
// On an unconnected UDP socket with IP_RECVERR, an ICMP error about any
// earlier datagram sets the socket error (sk_err) and queues an entry naming
// that datagram's destination. The next send on the socket, to whichever
// member, fails with that errno instead of being sent (it is consumed where
// the kernel allocates the skb, after routing). Reading the queue to its end
// clears sk_err. So a send that failed with an ICMP errno picked up someone
// else's error exactly when an ICMP entry with that errno arrived after the
// last time the queue was read before the send: that entry is the proof,
// and each entry proves one such failure (each ICMP error fails at most one
// send), so retries end when the errors do.
//
// Two refinements. The kernel queues an entry before it sets sk_err, so a
// read on another CPU can take the entry just before sk_err is set: the
// send that picks it up finds no proof this round. Entries not used as
// proof stay good for one more round. And ECONNREFUSED is never a send's
// own error on an unconnected socket (nothing on the send path makes it):
// it is always someone else's, proof or not.
//
// A socket read through several descriptors (a relay's threads each send
// through a duplicate of the relay's socket) has one queue and one sk_err:
// the entry that proves one thread's failure is often read by another. So
// the proofs belong to the socket, shared by every ErrorQueue on it, each
// stamped with when it was read. (Per reader, a relay with threads: 2
// forwarding to 500 live and 500 net-unreachable IPv6 members blamed
// ENETUNREACH on about 1,000 of 30,000 sends, live members among them.)
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <vector>

namespace sendgroup {

// An ICMP "destination unreachable" (port, host, net, ...) the kernel
// queued: where the datagram was going and the errno it maps to.
struct Unreachable {
  sockaddr_storage destination;
  int err;
};

class SocketProofs;

class ErrorQueue {
 public:
  explicit ErrorQueue(int fd);
  ~ErrorQueue();
  ErrorQueue(const ErrorQueue&) = delete;
  ErrorQueue& operator=(const ErrorQueue&) = delete;

  // Sends are about to run: errors read before the previous round began
  // cannot have failed them (reading cleared the socket error).
  void StartRound();
  // Held while a round's sends run: no reader of the same socket drains
  // its queue meanwhile (errqueue.cc). Holds nothing on a socket with one
  // reader.
  std::shared_lock<std::shared_mutex> Sending();
  // Whether a send of this round that failed with err failed because of an
  // ICMP error about another datagram (then it was not sent: send it again).
  // Uses up the entry that proves it.
  bool Stale(int err);
  // Reads every queued entry: the queue must never fill the receive buffer
  // (the socket would then poll POLLERR for good and lose later errors).
  // Finding none, clears a socket error set after its entry was read.
  void Drain();
  // Unreachable errors read since the last call.
  std::vector<Unreachable> TakeUnreachable() { return std::move(unreachable_); }
  // Sends found stale so far (each went again), for Sender.stats().
  double StaleRetries() const { return staleRetries_; }

 private:
  void ClearLateSocketError();
  // One entry Drain read: an ICMP error's errno into read, and into
  // unreachable_ if it says the destination is unreachable.
  void ReadEntry(msghdr& msg, const sockaddr_storage& destination, std::vector<int>& read);

  int fd_;
  bool drainedThisRound_ = false;
  std::shared_ptr<SocketProofs> proofs_;  // the socket's, whoever reads it
  // Proofs read after lastRoundStart_ (the socket's read count when the
  // previous round began) may prove a failure of this round.
  uint64_t roundStart_ = 0, lastRoundStart_ = 0;
  double staleRetries_ = 0;
  std::vector<Unreachable> unreachable_;
};

// Whether an ICMP error can set this errno on a UDP socket.
bool IcmpErrno(int err);

}  // namespace sendgroup

#include "errqueue.h"

#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace sendgroup {

// The proofs read from one socket's queue, by any of its readers, in the
// order they were read. Readers may be on different threads: the mutex.
//
// With several readers a drain also excludes their sends (the rounds lock):
// each entry read off the queue sets the socket error anew to the next
// entry's errno (sock_dequeue_err_skb), so a send on another thread during
// a drain could fail with an error that the drain then reads, after that
// entry had already failed a send of its own: two failures, one proof.
class SocketProofs {
 public:
  // Unused proofs older than this many reads are dropped (a reader that
  // stopped sending never uses its share); 16 bytes each.
  static constexpr size_t kMaxProofs = 16384;

  uint64_t Reads() const { return reads_.load(std::memory_order_acquire); }
  void Join() { readers_.fetch_add(1, std::memory_order_acq_rel); }
  void Leave() { readers_.fetch_sub(1, std::memory_order_acq_rel); }
  // Readers join while their engine is set up, before any sends: shared or
  // not, it is settled by the time rounds run.
  bool Shared() const { return readers_.load(std::memory_order_acquire) > 1; }
  std::shared_mutex& Rounds() { return rounds_; }

  void Add(const std::vector<int>& errs) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int err : errs) proofs_.push_back({err, reads_.fetch_add(1, std::memory_order_acq_rel) + 1});
    while (proofs_.size() > kMaxProofs || (!proofs_.empty() && proofs_.front().err == 0)) proofs_.pop_front();
  }

  // Uses up one proof of err read after `after`, the oldest: every
  // reader's window ends now, so the narrower windows of readers whose
  // rounds began later are left the newer proofs they need.
  bool Use(int err, uint64_t after) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::upper_bound(proofs_.begin(), proofs_.end(), after,
                               [](uint64_t at, const Proof& p) { return at < p.readAt; });
    for (; it != proofs_.end(); ++it) {
      if (it->err == err) {
        it->err = 0;  // used: dropped once it reaches the front
        return true;
      }
    }
    return false;
  }

 private:
  struct Proof {
    int err;  // 0: used
    uint64_t readAt;
  };
  std::mutex mutex_;
  std::shared_mutex rounds_;
  std::atomic<int> readers_{0};
  std::atomic<uint64_t> reads_{0};
  std::deque<Proof> proofs_;
};

namespace {

// The proofs of the socket behind fd, shared with every other ErrorQueue on
// the same socket (any descriptor of it: a socket is one inode of sockfs).
std::shared_ptr<SocketProofs> ProofsOf(int fd) {
  static std::mutex mutex;
  static std::map<std::pair<dev_t, ino_t>, std::weak_ptr<SocketProofs>> sockets;
  struct stat st {};
  if (fstat(fd, &st) < 0) return std::make_shared<SocketProofs>();
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = sockets.begin(); it != sockets.end();) it = it->second.expired() ? sockets.erase(it) : std::next(it);
  std::weak_ptr<SocketProofs>& known = sockets[{st.st_dev, st.st_ino}];
  std::shared_ptr<SocketProofs> proofs = known.lock();
  if (!proofs) known = proofs = std::make_shared<SocketProofs>();
  return proofs;
}

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

ErrorQueue::ErrorQueue(int fd) : fd_(fd), proofs_(ProofsOf(fd)) { proofs_->Join(); }

ErrorQueue::~ErrorQueue() { proofs_->Leave(); }

std::shared_lock<std::shared_mutex> ErrorQueue::Sending() {
  if (proofs_->Shared()) return std::shared_lock<std::shared_mutex>(proofs_->Rounds());
  return std::shared_lock<std::shared_mutex>(proofs_->Rounds(), std::defer_lock);
}

void ErrorQueue::StartRound() {
  drainedThisRound_ = false;
  lastRoundStart_ = roundStart_;
  roundStart_ = proofs_->Reads();
}

bool ErrorQueue::Stale(int err) {
  if (!IcmpErrno(err)) return false;
  // The entry that proves it is still queued (nothing read the queue
  // between the failed send and here), or it was read since the last
  // round began, by us or another reader of the socket.
  if (!drainedThisRound_) Drain();
  bool stale = proofs_->Use(err, lastRoundStart_) || err == ECONNREFUSED;
  if (stale) ++staleRetries_;
  return stale;
}

void ErrorQueue::Drain() {
  drainedThisRound_ = true;
  std::unique_lock<std::shared_mutex> noSends(proofs_->Rounds(), std::defer_lock);
  if (proofs_->Shared()) noSends.lock();
  std::vector<int> read;
  // Entries a recvmmsg(2) reads (with MSG_ERRQUEUE it reads them as it
  // reads datagrams): a storm of ICMP errors costs a call per kEntries, not
  // one each. The payload copy in each is of no use: a short buffer, truncated.
  constexpr unsigned kEntries = 16;
  struct Entry {
    sockaddr_storage destination;
    uint8_t data[1];
    iovec iov;
    alignas(cmsghdr) uint8_t control[128];
  };
  Entry entries[kEntries];
  mmsghdr msgs[kEntries];
  for (;;) {
    for (unsigned i = 0; i < kEntries; ++i) {
      Entry& e = entries[i];
      e.iov = {e.data, sizeof(e.data)};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &e.destination;
      msgs[i].msg_hdr.msg_namelen = sizeof(e.destination);
      msgs[i].msg_hdr.msg_iov = &e.iov;
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = e.control;
      msgs[i].msg_hdr.msg_controllen = sizeof(e.control);
    }
    int got = recvmmsg(fd_, msgs, kEntries, MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
    if (got < 0 && errno == EINTR) continue;
    for (int i = 0; i < got; ++i) ReadEntry(msgs[i].msg_hdr, entries[i].destination, read);
    // Fewer than asked for: the queue was empty (EAGAIN ended the call).
    if (got < int(kEntries)) break;
  }
  if (!read.empty()) proofs_->Add(read);
  else ClearLateSocketError();
}

// One entry: local errors (EMSGSIZE from our own oversized send) were
// already returned by that send; only ICMP ones can fail someone else's.
void ErrorQueue::ReadEntry(msghdr& msg, const sockaddr_storage& destination, std::vector<int>& read) {
  const sock_extended_err* ee = ExtendedError(msg);
  if (!ee || (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6)) return;
  int err = int(ee->ee_errno);
  read.push_back(err);
  if (IsUnreachable(*ee)) unreachable_.push_back({destination, err});
}

// Reading the last entry cleared the socket error, but the kernel sets it
// after queueing the entry (and wakes readers on both): a read in between
// leaves it set over an empty queue, and poll reports POLLERR until a send
// or a receive takes it; an idle socket would wake its waiter again and
// again. Its entry was read already, or (queued after our read found none)
// is still queued: POLLERR calls the next drain for it.
void ErrorQueue::ClearLateSocketError() {
  int err = 0;
  socklen_t length = sizeof(err);
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &length);
}

}  // namespace sendgroup

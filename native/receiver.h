// Datagrams arriving on a relay's socket, each landing in a slot of the
// relay's pool (the memory its sending rings registered), handed on with
// where they came from. The slot is the datagram's until Return().
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace sendgroup {

struct Datagram {
  const uint8_t* data;
  size_t length;
  int slot;
  const sockaddr* from;
  socklen_t fromLength;
  bool truncated;  // longer than a slot: the rest was dropped
};

class Receiver {
 public:
  using OnDatagram = std::function<void(const Datagram&)>;
  // After a burst of datagrams, when the loop would go back to waiting.
  using OnBurst = std::function<void()>;

  virtual ~Receiver() = default;
  // The slot may take the next datagram (its sends are done).
  virtual void Return(int slot) = 0;
  // No more datagrams from now on; what the socket holds is discarded
  // (teardown).
  virtual void Stop() = 0;
  // Stop() that ends a relay in order (close()): what the socket holds now
  // is received first (as far as slots are free), not discarded.
  void StopInOrder() {
    TakeWaiting();
    Stop();
  }
  // After Stop(): datagrams may still come (the receive has not ended).
  virtual bool Receiving() const = 0;

 protected:
  virtual void TakeWaiting() = 0;
};

// Datagrams the socket fd has dropped (its count since it was opened, which
// wraps at 2^32), read now: SO_MEMINFO; SO_RXQ_OVFL would tell only with the
// next datagram.
uint32_t SocketDrops(int fd);

}  // namespace sendgroup

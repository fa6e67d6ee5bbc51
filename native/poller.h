// A libuv poll handle on one descriptor: the events asked for change as the
// backend's needs do, and it keeps the loop alive only while asked to.
#pragma once

#include <uv.h>

namespace sendgroup {

class Poller {
 public:
  using Callback = void (*)(void* owner, int status, int events);

  Poller(uv_loop_t* loop, int fd, void* owner, Callback callback);
  ~Poller() { Close(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // UV_READABLE, UV_WRITABLE, UV_PRIORITIZED or 0; a no-op when unchanged.
  void Want(int events);
  // A socket watched for UV_WRITABLE or UV_PRIORITIZED (asked for only so
  // that POLLERR is seen; a UDP socket never raises POLLPRI) reported
  // POLLERR: its error queue holds entries. libuv reports POLLERR as a
  // failed poll, except alongside POLLPRI (sysfs reports that pair): then
  // it arrives as a UV_PRIORITIZED event.
  static bool SocketError(int status, int events) { return status < 0 || (events & UV_PRIORITIZED); }
  // What to watch a socket for: room when sends wait for it, else errors.
  static int SocketInterest(bool wantsWritable) { return wantsWritable ? UV_WRITABLE : UV_PRIORITIZED; }
  // libuv stopped the handle itself (it does on POLLERR): Want() restarts it.
  void Stopped() { events_ = 0; }
  void KeepLoopAlive(bool alive);
  void Close();

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);

  uv_poll_t* handle_;
  void* owner_;
  Callback callback_;
  int events_ = 0;
};

}  // namespace sendgroup

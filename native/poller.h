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

  // UV_READABLE, UV_WRITABLE, UV_DISCONNECT or 0; a no-op when unchanged.
  void Want(int events);
  // A socket watched for UV_WRITABLE or UV_DISCONNECT reported POLLERR
  // (epoll always watches for it): its error queue holds entries, and libuv
  // has stopped the handle and reports a failed poll.
  static bool SocketError(int status) { return status < 0; }
  // What to watch a socket for: room when sends wait for it, else only
  // errors. UV_DISCONNECT (EPOLLRDHUP, which UDP never raises) asks for
  // nothing but POLLERR: UV_PRIORITIZED did the same for poll(), but a
  // socket's data-ready wake-up carries EPOLLPRI, so epoll woke the watcher
  // for every datagram arriving on a relay's socket (each of its threads,
  // for nothing: +4 us per datagram with threads: 2).
  static int SocketInterest(bool wantsWritable) { return wantsWritable ? UV_WRITABLE : UV_DISCONNECT; }
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

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

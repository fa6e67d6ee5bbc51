#include "poller.h"

namespace sendgroup {

Poller::Poller(uv_loop_t* loop, int fd, void* owner, Callback callback)
    : handle_(new uv_poll_t), owner_(owner), callback_(callback) {
  uv_poll_init(loop, handle_, fd);
  handle_->data = this;
  KeepLoopAlive(false);
}

void Poller::Want(int events) {
  if (!handle_ || events == events_) return;
  events_ = events;
  if (events) uv_poll_start(handle_, events, OnPoll);
  else uv_poll_stop(handle_);
}

void Poller::KeepLoopAlive(bool alive) {
  if (!handle_) return;
  if (alive) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  else uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
}

void Poller::Close() {
  if (!handle_) return;
  handle_->data = nullptr;
  // libuv frees nothing itself; the handle is ours until the close callback.
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  handle_ = nullptr;
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Poller*>(handle->data);
  if (!self) return;
  // On an error event libuv has stopped watching.
  if (status < 0) self->Stopped();
  self->callback_(self->owner_, status, events);
}

}  // namespace sendgroup

#include "inline_engine.h"

namespace sendgroup {

InlineEngine::InlineEngine(uv_loop_t* loop, int fd, std::shared_ptr<SlotPool> pool, std::unique_ptr<Backend> backend,
                           Notify notify)
    : pool_(std::move(pool)), backend_(std::move(backend)), notify_(std::move(notify)) {
  if (backend_->RingFd() >= 0) {
    ringPoll_ = std::make_unique<Poller>(loop, backend_->RingFd(), this, OnRingPoll);
    ringPoll_->Want(UV_READABLE);
  }
  socketPoll_ = std::make_unique<Poller>(loop, fd, this, OnSocketPoll);
  WatchSocket();
}

void InlineEngine::Start(std::unique_ptr<Batch> batch, const Sources& sources) {
  backend_->Start(std::move(batch), sources);
  WatchSocket();
}

void InlineEngine::Abort(uint32_t token) {
  backend_->Abort(token);
  WatchSocket();
}

void InlineEngine::AbortAll() {
  backend_->AbortAll();
  WatchSocket();
}

void InlineEngine::Collect(ResultSink& sink) {
  backend_->Collect(sink);
  WatchSocket();
}

void InlineEngine::KeepLoopAlive(bool alive) {
  for (Poller* poll : {ringPoll_.get(), socketPoll_.get()}) {
    if (poll) poll->KeepLoopAlive(alive);
  }
}

void InlineEngine::Drain() {
  backend_->Drain();
  ringPoll_.reset();
  socketPoll_.reset();
}

void InlineEngine::OnRingPoll(void* self, int /*status*/, int /*events*/) {  // an eventfd never errs
  auto* engine = static_cast<InlineEngine*>(self);
  engine->backend_->OnRingReady();
  engine->notify_();
}

void InlineEngine::OnSocketPoll(void* self, int status, int /*events*/) {
  auto* engine = static_cast<InlineEngine*>(self);
  engine->backend_->OnSocketReady(Poller::SocketError(status));
  engine->notify_();
}

void InlineEngine::WatchSocket() {
  if (socketPoll_) socketPoll_->Want(Poller::SocketInterest(backend_->WantsWritable()));
}

}  // namespace sendgroup

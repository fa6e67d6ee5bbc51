// The io_uring backend's submission rounds: fill the SQ from the front call,
// submit, reap, and back off while the send buffer pushes back.
#include <algorithm>

#include "uring_backend.h"
#include "uring_sqe.h"

namespace sendgroup {

namespace {

constexpr unsigned kMaxSubmitPerPump = 4096;
// The smallest round while the send buffer pushes back.
constexpr unsigned kMinWindow = 8;

}  // namespace

void UringBackend::Pump() {
  // Completions of our own submissions are reaped right here, so they need
  // no eventfd wake-up (which would cost an epoll return, a read and an
  // io_uring_enter per call for nothing).
  ring_.SetEventFdEnabled(false);
  bool more = Cycle();
  if (active_ == 0 && !wakePending_) return;
  // What is still in the kernel must wake us from now on. Task work queued
  // while signalling was off did not signal: run it with signalling on.
  ring_.SetEventFdEnabled(true);
  if (Outstanding()) ring_.RunTaskWork(Outstanding());
  // CQEs posted while signalling was off, members we stopped submitting to
  // let JavaScript run, a submit to try again: come back through the loop.
  if (more || wakePending_ || ring_.CqReady()) ring_.Wake();
  wakePending_ = false;
}

// Submits what fits and reaps what completed until neither makes progress
// or kMaxSubmitPerPump SQEs went out (a huge group, or one trickling out
// through a full send buffer, must not hold the JavaScript thread). Returns
// whether it stopped with members still queued.
bool UringBackend::Cycle() {
  unsigned submitted = 0;
  for (;;) {
    unsigned prepared = blocked_ ? 0 : FillSq();
    unsigned pending = ring_.SqPending();
    if (pending && !SubmitRound()) return false;
    submitted += prepared;
    unsigned reaped = ring_.Reap([this](const io_uring_cqe& cqe) { OnCqe(cqe); });
    if (pending) EndRound();
    Advance();
    if (blocked_) return false;
    if (submitted >= kMaxSubmitPerPump) return !queue_.empty();
    if (!reaped && !pending) return false;
  }
}

// With MSG_DONTWAIT every send of the round runs inside this call, on this
// thread: the ICMP errors that could have failed one of them are the ones
// queued after this point (see errqueue.h).
bool UringBackend::SubmitRound() {
  errors_.StartRound();
  roundAccepted_ = roundAgain_ = 0;
  int submitted;
  {
    auto sending = errors_.Sending();
    submitted = ring_.Submit();
  }
  if (submitted >= 0) return true;
  // EAGAIN/EBUSY: the kernel is short of memory or CQ room. The SQEs stay
  // in the ring; with nothing else in flight no completion would bring us
  // back, so come back through the loop.
  wakePending_ = true;
  return false;
}

void UringBackend::PushedBack(unsigned accepted) {
  blocked_ = true;
  window_ = std::max(kMinWindow, 2 * accepted);
}

void UringBackend::EndRound() {
  if (roundAgain_) {
    PushedBack(roundAccepted_);
  } else if (window_) {
    window_ = window_ * 2 >= ring_.Features().entries ? 0 : window_ * 2;
  }
}

unsigned UringBackend::FillSq() {
  if (queue_.empty()) return 0;
  UringCall& call = *queue_.front();
  Batch& batch = *call.batch;
  unsigned prepared = 0;
  unsigned limit = window_ ? std::min(window_, roundLimit_) : roundLimit_;
  while (batch.HasQueued() && prepared < limit) {
    uint32_t i = batch.PeekQueued();
    if (RecordUnsendable(batch, i)) continue;
    // A member held for room looks at the socket once what this round
    // prepared is in it (SO_MEMINFO cannot see SQEs), and goes alone.
    if (batch.HeldForRoom(i) && prepared) break;
    if (AwaitsRoom(batch, i)) {
      blocked_ = true;
      break;
    }
    bool zeroCopy = call.zeroCopy && zeroCopyRefused_ == 0 && !call.CopyForcedBy(i);
    unsigned cost = zeroCopy ? 2 : 1;
    io_uring_sqe* sqe = cqeBudget_ >= cost ? ring_.GetSqe() : nullptr;
    if (!sqe) break;
    int slot = call.slot >= 0 ? call.slot : batch.SharedSlot();
    PrepMemberSend(sqe, batch, i, {fd_, ring_.Features(), slot, zeroCopy});
    io_uring_sqe_set_data64(sqe, UserData(call.id, i, zeroCopy));
    batch.PopQueued();
    ++call.inflight;
    cqeBudget_ -= cost;
    ++prepared;
    // What it waited for, the next in this round could take first.
    if (batch.WentWithRoom(i)) break;
  }
  return prepared;
}

}  // namespace sendgroup

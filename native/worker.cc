#include "worker.h"

#include <system_error>

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "mmsg_backend.h"

namespace sendgroup {

namespace {

constexpr unsigned kWorkerRoundSends = 256;
// How much lower than the process the sending threads run (nice steps).
constexpr int kWorkerNiceSteps = 10;

// Named, for top -H and perf; and below the JavaScript thread. On 2 cores
// with two busy senders the event loop waited for a CPU: p99 loop delay 5.1
// ms at the same nice, 2.45 ms at +10 (SCHED_IDLE: 2.41 ms, but the wall
// rate fell from 1.54x to 1.24x of inline, against 1.45x at +10; 10,000
// members, docs/benchmarks.md). With autogroup (the default) a thread's nice
// weighs it only against the threads of its own process group, not against
// other programs.
void YieldToEventLoop() {
  pthread_setname_np(pthread_self(), "sendgroup-send");
  id_t tid = id_t(gettid());
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) setpriority(PRIO_PROCESS, tid, std::min(19, nice + kWorkerNiceSteps));
}

}  // namespace

Worker::Worker(const WorkerConfig& config, uv_async_t* resultsReady) : resultsReady_(resultsReady) {
  try {
    thread_ = std::thread(&Worker::Run, this, config);
  } catch (const std::system_error& e) {
    // No thread (EAGAIN: the process or its cgroup at its task limit), so
    // nobody to own the socket.
    startErrno_ = e.code().value();
    close(config.fd);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  setUp_.wait(lock, [this] { return setUpDone_; });
}

Worker::~Worker() {
  Stop();
  Join();
}

void Worker::Post(WorkerCommand command) {
  // Signalled under the lock: the worker takes commands only under it, and
  // closes inboxAsync_ once it has taken a kStop (libuv 1.46 ignores a send
  // to a closing handle, which is not a promise to rely on).
  std::lock_guard<std::mutex> lock(mutex_);
  inbox_.push_back(std::move(command));
  uv_async_send(&inboxAsync_);
}

WorkerResults Worker::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  WorkerResults taken = std::move(results_);
  results_ = {};
  results_.zeroCopyRefused = taken.zeroCopyRefused;
  results_.staleRetries = taken.staleRetries;
  return taken;
}

void Worker::Stop() {
  if (thread_.joinable() && !setupErrno_) Post(WorkerCommand(WorkerCommand::Kind::kStop));
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Run(WorkerConfig config) {
  YieldToEventLoop();
  fd_ = config.fd;
  bool up = SetUp(config);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    setUpDone_ = true;
  }
  setUp_.notify_all();
  // Until Shut closes the inbox, the one handle that keeps the loop alive
  // (the pollers do not); the close callbacks run before it returns.
  if (up) uv_run(&loop_, UV_RUN_DEFAULT);
  if (loopUp_) uv_loop_close(&loop_);
  backend_.reset();
  close(fd_);
}

bool Worker::SetUp(const WorkerConfig& config) {
  if (config.backend == "sendmmsg") {
    backend_ = std::make_unique<MmsgBackend>(fd_, config.errorRoom, config.ioUringErrno);
  } else {
    auto uring = std::make_unique<UringBackend>(fd_, config.errorRoom, config.ring, *config.pool);
    setupErrno_ = uring->SetupErrno();
    backend_ = std::move(uring);
  }
  // A round runs in the kernel without a preemption point (PREEMPT_NONE
  // kernels): 1,024 sends hold a CPU ~1.5 ms, which the JavaScript thread
  // may be waiting for. 256 cost the C reference no throughput
  // (docs/benchmarks.md, "The event loop's delay").
  backend_->LimitRounds(kWorkerRoundSends);
  info_ = backend_->Info();
  if (setupErrno_) return false;
  if (int err = uv_loop_init(&loop_)) {
    setupErrno_ = -err;
    setupSyscall_ = "uv_loop_init";
    // libuv (1.46) keeps its epoll descriptor when a later step fails (the
    // signal pipe, EMFILE): one leaked per worker, with the process already
    // short of descriptors. Before it was made (ENOMEM) the field is 0 or -1.
    if (err != UV_ENOMEM && uv_backend_fd(&loop_) > 0) close(uv_backend_fd(&loop_));
    return false;
  }
  loopUp_ = true;
  uv_async_init(&loop_, &inboxAsync_, OnInbox);
  inboxAsync_.data = this;
  if (backend_->RingFd() >= 0) {
    ringPoll_ = std::make_unique<Poller>(&loop_, backend_->RingFd(), this, OnRingPoll);
    ringPoll_->Want(UV_READABLE);
  }
  socketPoll_ = std::make_unique<Poller>(&loop_, fd_, this, OnSocketPoll);
  Publish();
  return true;
}

void Worker::OnInbox(uv_async_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  std::deque<WorkerCommand> commands;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    commands.swap(self->inbox_);
  }
  // A relay hands each datagram over as a call of its own, and a worker
  // behind may find hundreds waiting: what finished goes back while it sends
  // the rest, so the relay's counters and receive buffers keep moving.
  uint32_t sends = 0;
  for (WorkerCommand& command : commands) {
    if (command.part) sends += command.part->tx.Count();
    self->Handle(command);
    if (self->stopping_) return;
    if (sends >= kSendsPerResults) {
      self->Publish();
      sends = 0;
    }
  }
  self->Publish();
}

void Worker::Handle(WorkerCommand& command) {
  if (stopping_) return;
  switch (command.kind) {
    case WorkerCommand::Kind::kStart:
      // Already placed in the call's shared copy: there is nothing to copy.
      backend_->Start(std::move(command.part), Sources{});
      break;
    case WorkerCommand::Kind::kAbort:
      backend_->Abort(command.token);
      break;
    case WorkerCommand::Kind::kAbortAll:
      backend_->AbortAll();
      break;
    case WorkerCommand::Kind::kStop:
      Shut();
      break;
  }
}

// Teardown on the worker's thread: the backend cancels and waits (bounded)
// for the kernel, then the loop's handles close and Run returns.
void Worker::Shut() {
  stopping_ = true;
  backend_->Drain();
  Publish();
  ringPoll_.reset();
  socketPoll_.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&inboxAsync_), nullptr);
}

void Worker::OnRingPoll(void* self, int /*status*/, int /*events*/) {
  auto* worker = static_cast<Worker*>(self);
  worker->backend_->OnRingReady();
  worker->Publish();
}

void Worker::OnSocketPoll(void* self, int status, int /*events*/) {
  auto* worker = static_cast<Worker*>(self);
  worker->backend_->OnSocketReady(Poller::SocketError(status));
  worker->Publish();
}

void Worker::Publish() {
  if (socketPoll_) socketPoll_->Want(Poller::SocketInterest(backend_->WantsWritable()));
  std::vector<Batch*> progressed = backend_->TakeProgressed();
  std::vector<std::unique_ptr<Batch>> finished = backend_->TakeFinished();
  std::vector<Unreachable> unreachable = backend_->TakeUnreachable();
  int zeroCopyRefused = backend_->Info().zeroCopyRefused;
  double staleRetries = backend_->StaleRetries();
  bool counted = zeroCopyRefused == zeroCopyRefused_ && staleRetries == staleRetries_;
  if (progressed.empty() && finished.empty() && unreachable.empty() && counted) return;
  zeroCopyRefused_ = zeroCopyRefused;
  staleRetries_ = staleRetries;
  std::lock_guard<std::mutex> lock(mutex_);
  for (Batch* part : progressed) {
    part->hasNewProgress = false;
    // Into the call's member numbering while the part is still ours.
    for (size_t i = 0; i < part->progress.size(); i += 3) part->progress[i] = int32_t(part->tx.WholeIndex(part->progress[i]));
    results_.progress.emplace_back(part->tx.token, std::move(part->progress));
    part->progress.clear();
  }
  for (auto& part : finished) results_.finished.push_back(std::move(part));
  results_.unreachable.insert(results_.unreachable.end(), unreachable.begin(), unreachable.end());
  results_.zeroCopyRefused = zeroCopyRefused;
  results_.staleRetries = staleRetries;
  uv_async_send(resultsReady_);
}

}  // namespace sendgroup

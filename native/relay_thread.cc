#include "relay_thread.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "mmsg_backend.h"

namespace sendgroup {

namespace {

// A wake-up may take up to every receive buffer's datagram (256 by
// default) and send them all before its results are collected: at 1,000
// members half a second in which stats() stood still and no buffer came
// back. Results are collected at least this often, in member sends.
constexpr uint32_t kSendsPerResults = 4096;

enum Tag : uint64_t {
  kCommands = UringReceiver::kFirstOwnerTag,
  kSendRing,
  kSocketErrors,
  kSocketRoom,
};

}  // namespace

RelayThread::RelayThread(const RelayThreadConfig& config, OnDatagram onDatagram, OnResults onResults, OnEnded onEnded)
    : onResults_(std::move(onResults)), onEnded_(std::move(onEnded)) {
  commandFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (commandFd_ < 0) {
    startErrno_ = errno;
    close(config.receiveFd);
    return;
  }
  try {
    thread_ = std::thread(&RelayThread::Run, this, config, std::move(onDatagram));
  } catch (const std::system_error& e) {
    startErrno_ = e.code().value();  // EAGAIN: the process or its cgroup at its task limit
    close(config.receiveFd);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  setUp_.wait(lock, [this] { return setUpDone_; });
}

RelayThread::~RelayThread() {
  Shut();
  Join();
  if (commandFd_ >= 0) close(commandFd_);
}

void RelayThread::Begin() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    begun_ = true;
  }
  setUp_.notify_all();
}

// The eventfd wakes a thread sleeping in its ring, the condition one
// waiting for Begin.
void RelayThread::Ask(Request request) {
  if (!thread_.joinable() || request_.load() >= request) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    request_.store(request);
  }
  setUp_.notify_all();
  eventfd_write(commandFd_, 1);
}

void RelayThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void RelayThread::Run(RelayThreadConfig config, OnDatagram onDatagram) {
  pthread_setname_np(pthread_self(), "sendgroup-relay");
  bool up = SetUp(config, std::move(onDatagram));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    setUpDone_ = true;
  }
  setUp_.notify_all();
  bool begun = up && AwaitBegin();
  if (begun) {
    Loop();
    Finish();
  }
  Close();
  if (begun) onEnded_();
}

bool RelayThread::AwaitBegin() {
  std::unique_lock<std::mutex> lock(mutex_);
  setUp_.wait(lock, [this] { return begun_ || request_.load() == kShut; });
  return begun_;
}

bool RelayThread::SetUp(const RelayThreadConfig& config, OnDatagram onDatagram) {
  sendFd_ = config.sendFd;
  if (config.uring) return SetUpRings(config, std::move(onDatagram));
  backend_ = std::make_unique<MmsgBackend>(config.sendFd, config.errorRoom, config.ioUringErrno);
  info_ = backend_->Info();
  receiver_ = std::make_unique<MmsgReceiver>(nullptr, config.receiveFd, *config.pool, std::move(onDatagram), [] {});
  mmsg_ = static_cast<MmsgReceiver*>(receiver_.get());
  return true;
}

// On the thread: a ring with SINGLE_ISSUER belongs to the task that set it up.
bool RelayThread::SetUpRings(const RelayThreadConfig& config, OnDatagram onDatagram) {
  auto backend = std::make_unique<UringBackend>(config.sendFd, config.errorRoom, config.ring, *config.pool);
  info_ = backend->Info();
  setupErrno_ = backend->SetupErrno();
  backend_ = std::move(backend);
  if (setupErrno_) {
    close(config.receiveFd);
    return false;
  }
  auto ring = std::make_unique<UringReceiver>(nullptr, config.receiveFd, *config.pool, config.ring.deferTaskrun,
                                              std::move(onDatagram), [] {});
  setupErrno_ = ring->SetupErrno();
  ring_ = ring.get();
  receiver_ = std::move(ring);
  return setupErrno_ == 0;
}

void RelayThread::Loop() {
  while (!shut_ && !(stopped_ && !receiver_->Receiving() && backend_->Idle())) {
    if (ring_) WaitInRing();
    else WaitInPoll();
    onResults_(*backend_);
    sendsSinceResults_ = 0;
  }
}

// Called while the receiver delivers: collecting here gives slots back
// (UringReceiver::Return may re-arm its receive, which its own completion
// handling then sees armed).
void RelayThread::Send(std::unique_ptr<Batch> batch) {
  sendsSinceResults_ += batch->tx.Count();
  backend_->Start(std::move(batch), Sources{});
  if (sendsSinceResults_ < kSendsPerResults) return;
  onResults_(*backend_);
  sendsSinceResults_ = 0;
}

void RelayThread::OnOwnerCqe(const io_uring_cqe& cqe) {
  bool more = cqe.flags & IORING_CQE_F_MORE;
  // A poll's result is the events that occurred, or a negative errno.
  bool error = cqe.res > 0 && (cqe.res & POLLERR);
  switch (cqe.user_data) {
    case kCommands:
      commandsPolled_ = more;
      TakeRequest();
      break;
    case kSendRing:
      ringPolled_ = false;
      backend_->OnRingReady();
      break;
    case kSocketErrors:
      errorsPolled_ = more;
      backend_->OnSocketReady(true);
      break;
    case kSocketRoom:
      roomPolled_ = false;
      backend_->OnSocketReady(error);
      break;
  }
}

void RelayThread::TakeRequest() {
  eventfd_t knocks;
  eventfd_read(commandFd_, &knocks);
  int request = request_.load();
  if (request >= kStop && !stopped_) {
    stopped_ = true;
    receiver_->Stop();
  }
  shut_ = request == kShut;
}

// A room poll left armed after the sends stopped waiting fires once,
// harmlessly: a backend not blocked ignores a writable socket.
void RelayThread::WaitInRing() {
  if (!commandsPolled_) commandsPolled_ = ring_->Poll(commandFd_, POLLIN, kCommands, true);
  // One-shot: io_uring's own eventfd signal ends a multishot poll anyway
  // (EPOLL_URING_WAKE, which keeps rings polling each other from looping).
  if (!ringPolled_) ringPolled_ = ring_->Poll(backend_->RingFd(), POLLIN, kSendRing, false);
  if (!errorsPolled_) errorsPolled_ = ring_->Poll(sendFd_, POLLERR, kSocketErrors, true);
  if (!roomPolled_ && backend_->WantsWritable()) roomPolled_ = ring_->Poll(sendFd_, POLLOUT, kSocketRoom, false);
  ring_->Wait([this](const io_uring_cqe& cqe) { OnOwnerCqe(cqe); });
}

// poll(2) reports POLLERR (ICMP errors queued) whatever it was asked: the
// socket is asked for room only while sends wait for it, and its errors are
// read there. The receiving duplicate (the same socket, so the same
// POLLERR) is left out while no slot is free to receive into.
void RelayThread::WaitInPoll() {
  short receive = mmsg_->Interest();
  pollfd fds[] = {
      {commandFd_, POLLIN, 0},
      {sendFd_, short(backend_->WantsWritable() ? POLLOUT : 0), 0},
      {receive ? mmsg_->Fd() : -1, receive, 0},
  };
  if (poll(fds, 3, -1) < 0) return;  // EINTR: the loop asks again
  if (fds[0].revents) TakeRequest();
  if (fds[1].revents) backend_->OnSocketReady(fds[1].revents & POLLERR);
  if (fds[2].revents & POLLIN) mmsg_->OnReadable();
}

// The backend cancels what waits and lets the kernel finish (bounded); its
// last results go out, which gives the receiver its slots back.
void RelayThread::Finish() {
  backend_->Drain();
  onResults_(*backend_);
}

void RelayThread::Close() {
  receiver_.reset();
  backend_.reset();
  ended_.store(true, std::memory_order_release);
}

}  // namespace sendgroup

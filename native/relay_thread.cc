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

constexpr unsigned kCancelRounds = 40;
constexpr unsigned kCancelWaitMs = 50;

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

// The eventfd wakes a thread sleeping in its ring or in poll(2), the
// condition one waiting for Begin.
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
  bool up = config.uring ? SetUpRings(config, std::move(onDatagram)) : SetUpMmsg(config, std::move(onDatagram));
  info_ = backend_->Info();
  return up;
}

bool RelayThread::SetUpMmsg(const RelayThreadConfig& config, OnDatagram onDatagram) {
  backend_ = std::make_unique<MmsgBackend>(config.sendFd, config.errorRoom, config.ioUringErrno);
  auto receiver = std::make_unique<MmsgReceiver>(nullptr, config.receiveFd, *config.pool, std::move(onDatagram), [] {});
  mmsgReceiver_ = receiver.get();
  receiver_ = std::move(receiver);
  return true;
}

// On the thread: a ring with SINGLE_ISSUER belongs to the task that set it up.
bool RelayThread::SetUpRings(const RelayThreadConfig& config, OnDatagram onDatagram) {
  auto backend = std::make_unique<UringBackend>(config.sendFd, config.errorRoom, config.ring, *config.pool);
  setupErrno_ = backend->SetupErrno();
  backend_ = std::move(backend);
  if (setupErrno_) {
    close(config.receiveFd);
    return false;
  }
  auto receiver = std::make_unique<UringReceiver>(nullptr, config.receiveFd, *config.pool, config.ring.deferTaskrun,
                                                  std::move(onDatagram), [] {});
  setupErrno_ = receiver->SetupErrno();
  uringReceiver_ = receiver.get();
  receiver_ = std::move(receiver);
  return setupErrno_ == 0;
}

void RelayThread::Loop() {
  while (!shut_ && !(stopped_ && !receiver_->Receiving() && backend_->Idle())) {
    if (uringReceiver_) WaitInRing();
    else WaitInPoll();
    onResults_(*backend_);
  }
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
    if (request == kStop) receiver_->StopInOrder();
    else receiver_->Stop();
  }
  shut_ = request == kShut;
}

// A room poll left armed after the sends stopped waiting fires once,
// harmlessly: a backend not blocked ignores a writable socket.
void RelayThread::WaitInRing() {
  if (!commandsPolled_) commandsPolled_ = uringReceiver_->Poll(commandFd_, POLLIN, kCommands, true);
  // One-shot: io_uring's own eventfd signal ends a multishot poll anyway
  // (EPOLL_URING_WAKE, which keeps rings polling each other from looping).
  if (!ringPolled_) ringPolled_ = uringReceiver_->Poll(backend_->RingFd(), POLLIN, kSendRing, false);
  if (!errorsPolled_) errorsPolled_ = uringReceiver_->Poll(sendFd_, POLLERR, kSocketErrors, true);
  if (!roomPolled_ && backend_->WantsWritable()) {
    roomPolled_ = uringReceiver_->Poll(sendFd_, POLLOUT, kSocketRoom, false);
  }
  uringReceiver_->Wait([this](const io_uring_cqe& cqe) { OnOwnerCqe(cqe); });
}

// poll(2) reports POLLERR (ICMP errors queued, or the socket error set)
// whatever it was asked, on either descriptor of the socket. Each polled
// descriptor puts a waiter on the socket's wait queue, which every sent
// datagram's release wakes: the socket itself is polled only while sends
// wait for room or nothing is received (its errors still need a watch),
// the receiving duplicate only while a buffer is free.
void RelayThread::WaitInPoll() {
  short receive = mmsgReceiver_->Interest();
  bool room = backend_->WantsWritable();
  pollfd fds[] = {
      {commandFd_, POLLIN, 0},
      {room || !receive ? sendFd_ : -1, short(room ? POLLOUT : 0), 0},
      {receive ? mmsgReceiver_->Fd() : -1, receive, 0},
  };
  if (poll(fds, 3, -1) < 0) return;  // EINTR: the loop asks again
  bool error = (fds[1].revents | fds[2].revents) & POLLERR;
  if (fds[0].revents) TakeRequest();
  if (fds[1].revents || error) backend_->OnSocketReady(error);
  if (fds[2].revents & POLLIN) mmsgReceiver_->OnReadable();
}

// The backend cancels what waits and lets the kernel finish (bounded); its
// last results go out, which gives the receiver its slots back.
void RelayThread::Finish() {
  backend_->Drain();
  onResults_(*backend_);
}

void RelayThread::Close() {
  // After a shut the receive may still be armed: what Wait reaped would be
  // forwarded. The ring's exit takes care of it all then.
  if (uringReceiver_ && setupErrno_ == 0 && !uringReceiver_->Receiving()) CancelPolls();
  // The backend first: a batch it still holds gives its slot back to the
  // receiver as it goes.
  backend_.reset();
  receiver_.reset();
  ended_.store(true, std::memory_order_release);
}

// A ring's exit cancels what is still armed only later, in the kernel's
// own work queue, and until then a poll on the socket holds it: close()
// would resolve with the port still bound (a relay made again on it failed
// EADDRINUSE). Cancelled here, each poll's last completion is reaped, which
// frees the request and its hold on the file. A full SQ, or completions
// that do not come within the bound (as UringBackend::Drain's), leave it
// to the exit.
void RelayThread::CancelPolls() {
  for (uint64_t tag : {kCommands, kSendRing, kSocketErrors, kSocketRoom}) {
    if (*Polled(tag) && !uringReceiver_->Cancel(tag)) return;
  }
  auto armed = [this] { return commandsPolled_ || ringPolled_ || errorsPolled_ || roomPolled_; };
  for (unsigned round = 0; armed() && round < kCancelRounds; ++round) {
    uringReceiver_->WaitAtMost(kCancelWaitMs, [this](const io_uring_cqe& cqe) {
      if (!(cqe.flags & IORING_CQE_F_MORE)) *Polled(cqe.user_data) = false;
    });
  }
}

bool* RelayThread::Polled(uint64_t tag) {
  switch (tag) {
    case kCommands: return &commandsPolled_;
    case kSendRing: return &ringPolled_;
    case kSocketErrors: return &errorsPolled_;
    default: return &roomPolled_;  // kSocketRoom, the only other tag polled
  }
}

}  // namespace sendgroup

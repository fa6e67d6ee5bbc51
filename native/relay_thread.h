// A relay's own native thread (threads: 0): it receives and sends. With
// io_uring it sleeps in the ring that receives, and poll requests on that
// ring wait for everything else: the sending ring's completions, the
// socket's errors and room, and the JavaScript thread's commands. So a
// datagram costs one io_uring_enter (the wake-up that receives it) and its
// sends, as a C relay's blocking recvmmsg and sendmmsg; on the JavaScript
// thread's loop it cost an epoll_wait more and a pass of Node's loop
// (docs/benchmarks.md, Relay), and JavaScript running there delayed it.
// Where io_uring is blocked it sleeps in poll(2) on the same things, and
// receives with recvmmsg and sends with sendmmsg.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "backend.h"
#include "mmsg_receiver.h"
#include "receiver.h"
#include "uring_backend.h"
#include "uring_receiver.h"

namespace sendgroup {

struct RelayThreadConfig {
  int sendFd;     // the relay's socket (stays the relay's)
  int receiveFd;  // the thread's own duplicate of it (closed with it)
  unsigned errorRoom;
  bool uring;        // io_uring, or recvmmsg and sendmmsg
  int ioUringErrno;  // why not io_uring, for BackendInfo
  RingOptions ring;
  SlotPool* pool;  // outlives the thread
};

class RelayThread {
 public:
  // Both run on the thread: a datagram (its slot the callee's until
  // Return), and after each wake-up (or CollectResults) the backend, to
  // collect results from.
  using OnDatagram = Receiver::OnDatagram;
  using OnResults = std::function<void(Backend&)>;
  // After the thread ended (Ended()), from the thread.
  using OnEnded = std::function<void()>;

  // Starts the thread and waits until it is set up (its rings, with
  // io_uring). Check
  // StartErrno(), then SetupErrno() (the thread has ended then); then
  // Begin() lets it receive (its callbacks may need the caller to hold it).
  RelayThread(const RelayThreadConfig& config, OnDatagram onDatagram, OnResults onResults, OnEnded onEnded);
  ~RelayThread();
  RelayThread(const RelayThread&) = delete;
  RelayThread& operator=(const RelayThread&) = delete;

  int StartErrno() const { return startErrno_; }
  int SetupErrno() const { return setupErrno_; }
  // As set up.
  BackendInfo Info() const { return info_; }

  // On the thread.
  void Send(std::unique_ptr<Batch> batch) { backend_->Start(std::move(batch), Sources{}); }
  void CollectResults() { onResults_(*backend_); }
  void Return(int slot) { receiver_->Return(slot); }

  // From the JavaScript thread.
  void Begin();
  // No more datagrams; the thread ends once what is in flight is sent.
  void Stop() { Ask(kStop); }
  // Ends now: what waits is cancelled, the kernel let finish (bounded).
  void Shut() { Ask(kShut); }
  bool Ended() const { return ended_.load(std::memory_order_acquire); }
  void Join();

 private:
  enum Request { kNone, kStop, kShut };
  void Ask(Request request);
  void Run(RelayThreadConfig config, OnDatagram onDatagram);
  bool SetUp(const RelayThreadConfig& config, OnDatagram onDatagram);
  // Until Begin(), or Shut() before it; whether it began.
  bool AwaitBegin();
  bool SetUpRings(const RelayThreadConfig& config, OnDatagram onDatagram);
  bool SetUpMmsg(const RelayThreadConfig& config, OnDatagram onDatagram);
  void Loop();
  void OnOwnerCqe(const io_uring_cqe& cqe);
  void TakeRequest();
  // With io_uring, sleeps in the receiving ring: polls what is not polled
  // yet there (the socket's errors always, its room while sends wait for
  // it, the sending ring's eventfd), then waits.
  void WaitInRing();
  // Without: one poll(2) on the commands and the socket (or its receiving
  // duplicate).
  void WaitInPoll();
  void Finish();
  // The rings go, on the thread that set them up.
  void Close();
  void CancelPolls();
  bool* Polled(uint64_t tag);

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable setUp_;
  bool setUpDone_ = false;
  bool begun_ = false;
  int startErrno_ = 0;
  int setupErrno_ = 0;
  BackendInfo info_;
  std::atomic<int> request_{kNone};
  std::atomic<bool> ended_{false};
  int commandFd_ = -1;  // an eventfd: the JavaScript thread's knock
  OnResults onResults_;
  OnEnded onEnded_;

  // The thread's own.
  int sendFd_ = -1;
  std::unique_ptr<Receiver> receiver_;
  UringReceiver* uringReceiver_ = nullptr;  // receiver_, with io_uring
  MmsgReceiver* mmsgReceiver_ = nullptr;    // or receiver_
  std::unique_ptr<Backend> backend_;
  bool stopped_ = false;
  bool shut_ = false;
  bool commandsPolled_ = false, ringPolled_ = false, errorsPolled_ = false, roomPolled_ = false;
};

}  // namespace sendgroup

// One sending thread of a Sender with threads: a backend on an event loop
// of its own, fed parts of calls by the JavaScript thread and handing
// results back to it. The backend is made on the thread itself: a ring with
// SINGLE_ISSUER and DEFER_TASKRUN belongs to the task that set it up.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "poller.h"
#include "uring_backend.h"

namespace sendgroup {

struct WorkerConfig {
  int fd;  // the worker's own socket (closed with the worker)
  unsigned errorRoom;
  std::string backend;  // 'io_uring' or 'sendmmsg'
  int ioUringErrno;     // why not io_uring, for a sendmmsg worker
  RingOptions ring;
  SlotPool* pool;       // registered in the worker's ring; taken from by the JavaScript thread only
};

// What the JavaScript thread asks of a worker.
struct WorkerCommand {
  enum class Kind { kStart, kAbort, kAbortAll, kStop };
  explicit WorkerCommand(Kind k, std::unique_ptr<Batch> p = nullptr, uint32_t t = 0)
      : kind(k), part(std::move(p)), token(t) {}
  Kind kind;
  std::unique_ptr<Batch> part;
  uint32_t token;
};

// What a worker hands back, in the order it happened.
struct WorkerResults {
  std::vector<std::unique_ptr<Batch>> finished;  // destroyed on the JavaScript thread (SharedCopy)
  std::vector<std::pair<uint32_t, std::vector<int32_t>>> progress;  // (token, triples in the call's numbering)
  std::vector<Unreachable> unreachable;
  // The backend's counters as they stand (not since the last take).
  int zeroCopyRefused = 0;
  double staleRetries = 0;
};

class Worker {
 public:
  // Starts the thread and waits until its backend is set up; resultsReady
  // is signalled (from the worker's thread) whenever results wait.
  Worker(const WorkerConfig& config, uv_async_t* resultsReady);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Why the thread could not be started (its socket is closed then), or 0.
  int StartErrno() const { return startErrno_; }
  int SetupErrno() const { return setupErrno_; }
  // What refused it: "io_uring_setup" or "uv_loop_init".
  const char* SetupSyscall() const { return setupSyscall_; }
  // As set up; zero-copy refusals arrive with the results.
  BackendInfo Info() const { return info_; }
  void Post(WorkerCommand command);
  WorkerResults Take();
  // Cancels what waits, lets the kernel finish (bounded), ends the thread.
  void Stop();
  void Join();

 private:
  void Run(WorkerConfig config);
  bool SetUp(const WorkerConfig& config);
  static void OnInbox(uv_async_t* handle);
  static void OnRingPoll(void* self, int status, int events);
  static void OnSocketPoll(void* self, int status, int events);
  void Handle(WorkerCommand& command);
  void Shut();
  // After the backend did work: results to the JavaScript thread, and what
  // the socket is watched for.
  void Publish();

  uv_async_t* resultsReady_;
  std::mutex mutex_;
  std::condition_variable setUp_;
  bool setUpDone_ = false;
  int setupErrno_ = 0;
  const char* setupSyscall_ = "io_uring_setup";
  int startErrno_ = 0;
  BackendInfo info_;
  std::deque<WorkerCommand> inbox_;
  WorkerResults results_;
  std::thread thread_;

  // The worker's thread only.
  int fd_ = -1;
  uv_loop_t loop_{};
  uv_async_t inboxAsync_{};
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Poller> ringPoll_, socketPoll_;
  bool loopUp_ = false;
  bool stopping_ = false;
  int zeroCopyRefused_ = 0;  // as last published
  double staleRetries_ = 0;
};

}  // namespace sendgroup

// Sending on K native threads (threads: K): each call's bytes are copied
// once, on the JavaScript thread, into memory every worker's ring reads (a
// slot registered in each ring, or the heap); its members are split by
// destination, so a member always goes through the same worker and a
// worker keeps call order; the workers' results are merged back into one
// report per call in member order. Calls too small to pay for the hop may
// be sent inline instead, on a socket of their own (SendInline).
#pragma once

#include <uv.h>

#include <unordered_map>
#include <vector>

#include "engine.h"
#include "socket.h"
#include "worker.h"

namespace sendgroup {

class ThreadedEngine : public Engine {
 public:
  // One worker per socket (each the worker's own from then on).
  // Check SetupErrno(): the first worker that could not set up, and
  // SetupSyscall() what refused it (its ring, or its loop).
  ThreadedEngine(uv_loop_t* loop, const std::vector<Socket>& sockets, const WorkerConfig& config, std::shared_ptr<SlotPool> pool,
                 Notify notify);
  ~ThreadedEngine() override;

  // Check StartErrno() first: a thread could not be started.
  int StartErrno() const { return startErrno_; }
  int SetupErrno() const { return setupErrno_; }
  const char* SetupSyscall() const { return setupSyscall_; }
  // Calls to fewer than `below` members go to `engine` (inline, on the
  // JavaScript thread, sending through fd, which it now owns) when nothing
  // is in flight on the threads.
  void SendInline(std::unique_ptr<Engine> engine, int fd, uint32_t below);
  void Start(std::unique_ptr<Batch> batch, const Sources& sources) override;
  void Abort(uint32_t token) override;
  void AbortAll() override;
  bool Idle() const override { return ThreadsIdle() && (!small_ || small_->Idle()); }
  void Collect(ResultSink& sink) override;
  void KeepLoopAlive(bool alive) override;
  void Drain() override;
  BackendInfo Info() const override;

 private:
  struct Call {
    std::unique_ptr<Batch> whole;  // gathers the parts' results
    unsigned partsLeft = 0;
  };
  // Which members each worker sends (by destination, so a member always
  // goes through the same worker and its datagrams stay in order), and
  // their destinations: worked out once per table (a Group's is reused
  // until it changes), the last one kept.
  struct Split {
    std::shared_ptr<const std::vector<Destination>> whole;
    std::vector<std::shared_ptr<const std::vector<uint32_t>>> members;  // per worker
    std::vector<std::shared_ptr<const std::vector<Destination>>> destinations;  // per worker
  };
  bool ThreadsIdle() const { return calls_.empty() && settled_.empty(); }
  bool GoesInline(const Batch& batch) const;
  const Split& SplitFor(const Transmit& tx);
  std::unique_ptr<Batch> Part(const Transmit& tx, const Split& split, size_t worker) const;
  void Merge(WorkerResults& results, ResultSink& sink);
  void StopWorkers();
  static void OnResults(uv_async_t* handle);

  std::shared_ptr<SlotPool> pool_;
  uv_async_t* resultsReady_;
  std::vector<std::unique_ptr<Worker>> workers_;
  int setupErrno_ = 0;
  const char* setupSyscall_ = nullptr;
  int startErrno_ = 0;
  int zeroCopyRefused_ = 0;
  std::vector<double> staleRetries_;  // per worker, as last taken
  std::unordered_map<uint32_t, Call> calls_;  // by token
  std::vector<std::unique_ptr<Batch>> settled_;  // calls with no member
  Split split_;
  Notify notify_;
  std::unique_ptr<Engine> small_;
  int smallFd_ = -1;
  uint32_t inlineBelow_ = 0;
};

}  // namespace sendgroup

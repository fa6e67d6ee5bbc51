#include "threaded_engine.h"

#include <unistd.h>

#include <cstring>

namespace sendgroup {

namespace {

// FNV-1a over the address and port the kernel sends to, then mixed: FNV's
// low bits only see the bytes' low bits (its multiplier is odd), so members
// whose address and port both count up by one all fell to one thread of two.
// The mix is MurmurHash3's finalizer.
uint32_t HashDestination(const Destination& d) {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&d.sa);
  uint32_t hash = 2166136261u;
  for (socklen_t i = 0; i < d.len; ++i) hash = (hash ^ bytes[i]) * 16777619u;
  hash ^= hash >> 16;
  hash *= 0x85ebca6bu;
  hash ^= hash >> 13;
  hash *= 0xc2b2ae35u;
  hash ^= hash >> 16;
  return hash;
}

Extras Pick(const Extras& whole, const std::vector<uint32_t>& members) {
  Extras part;
  if (whole.Empty()) return part;
  part.total = whole.total;  // the part reads the whole call's region
  for (uint32_t i : members) {
    part.starts.push_back(whole.starts[i]);
    part.lengths.push_back(whole.lengths[i]);
  }
  return part;
}

}  // namespace

ThreadedEngine::ThreadedEngine(uv_loop_t* loop, const std::vector<Socket>& sockets, const WorkerConfig& config, std::shared_ptr<SlotPool> pool, Notify notify)
    : pool_(std::move(pool)), resultsReady_(new uv_async_t), notify_(std::move(notify)) {
  uv_async_init(loop, resultsReady_, OnResults);
  resultsReady_->data = this;
  KeepLoopAlive(false);
  for (size_t k = 0; k < sockets.size(); ++k) {
    WorkerConfig own = config;
    own.fd = sockets[k].fd;
    own.errorRoom = sockets[k].errorRoom;
    own.pool = pool_.get();
    auto worker = std::make_unique<Worker>(own, resultsReady_);
    if ((startErrno_ = worker->StartErrno())) {
      for (size_t rest = k + 1; rest < sockets.size(); ++rest) close(sockets[rest].fd);
      return;
    }
    workers_.push_back(std::move(worker));
    if (!setupErrno_ && (setupErrno_ = workers_.back()->SetupErrno())) setupSyscall_ = workers_.back()->SetupSyscall();
  }
}

ThreadedEngine::~ThreadedEngine() {
  StopWorkers();
  small_.reset();
  if (smallFd_ >= 0) close(smallFd_);
  // Batches a worker still owed are gone with it: nothing can signal now.
  resultsReady_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(resultsReady_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void ThreadedEngine::SendInline(std::unique_ptr<Engine> engine, int fd, uint32_t below) {
  small_ = std::move(engine);
  smallFd_ = fd;
  inlineBelow_ = below;
}

// A member's datagrams leave in call order only if its calls go one way at
// a time: a call goes where calls are still in flight, and only when none
// is anywhere does its size choose. (In flight means not yet handed to the
// kernel, or a zero-copy notification not yet in: being conservative there
// only sends a call the slower way.)
bool ThreadedEngine::GoesInline(const Batch& batch) const {
  if (!small_) return false;
  if (!small_->Idle()) return true;
  return ThreadsIdle() && batch.tx.Count() < inlineBelow_;
}

void ThreadedEngine::Start(std::unique_ptr<Batch> batch, const Sources& sources) {
  if (GoesInline(*batch)) {
    small_->Start(std::move(batch), sources);
    return;
  }
  // A relay's datagram is placed already, in its receive buffer.
  std::shared_ptr<SharedCopy> copy = batch->Shared();
  if (!copy) {
    copy = std::make_shared<SharedCopy>(pool_.get(), batch->tx.CopyLength());
    batch->Place(copy->data, sources);
  }
  const Split& split = SplitFor(batch->tx);
  Call call;
  for (size_t k = 0; k < workers_.size(); ++k) {
    if (split.members[k]->empty()) continue;
    std::unique_ptr<Batch> part = Part(batch->tx, split, k);
    part->PlaceShared(copy);
    workers_[k]->Post(WorkerCommand(WorkerCommand::Kind::kStart, std::move(part)));
    ++call.partsLeft;
  }
  if (call.partsLeft == 0) {
    settled_.push_back(std::move(batch));
    return;
  }
  uint32_t token = batch->tx.token;
  call.whole = std::move(batch);
  calls_.emplace(token, std::move(call));
}

const ThreadedEngine::Split& ThreadedEngine::SplitFor(const Transmit& tx) {
  if (split_.whole == tx.destinations) return split_;
  size_t workers = workers_.size();
  std::vector<std::vector<uint32_t>> members(workers);
  std::vector<std::vector<Destination>> destinations(workers);
  for (uint32_t i = 0; i < tx.Count(); ++i) {
    size_t k = HashDestination(tx.To(i)) % workers;
    members[k].push_back(i);
    destinations[k].push_back(tx.To(i));
  }
  split_ = Split{tx.destinations, {}, {}};
  for (size_t k = 0; k < workers; ++k) {
    split_.members.push_back(std::make_shared<const std::vector<uint32_t>>(std::move(members[k])));
    split_.destinations.push_back(std::make_shared<const std::vector<Destination>>(std::move(destinations[k])));
  }
  return split_;
}

std::unique_ptr<Batch> ThreadedEngine::Part(const Transmit& tx, const Split& split, size_t worker) const {
  Transmit part;
  part.token = tx.token;
  part.stream = tx.stream;
  part.zeroCopy = tx.zeroCopy;
  part.segmentSize = tx.segmentSize;
  part.payloadLength = tx.payloadLength;
  part.destinations = split.destinations[worker];
  part.prefix = Pick(tx.prefix, *split.members[worker]);
  part.suffix = Pick(tx.suffix, *split.members[worker]);
  part.memberOf = split.members[worker];
  return std::make_unique<Batch>(std::move(part));
}

void ThreadedEngine::Abort(uint32_t token) {
  if (!calls_.count(token)) {
    if (small_) small_->Abort(token);
    return;
  }
  for (auto& worker : workers_) worker->Post(WorkerCommand(WorkerCommand::Kind::kAbort, nullptr, token));
}

void ThreadedEngine::AbortAll() {
  for (auto& worker : workers_) worker->Post(WorkerCommand(WorkerCommand::Kind::kAbortAll));
  if (small_) small_->AbortAll();
}

void ThreadedEngine::Collect(ResultSink& sink) {
  for (auto& batch : settled_) sink.Done(*batch);
  settled_.clear();
  staleRetries_.resize(workers_.size());
  for (size_t k = 0; k < workers_.size(); ++k) {
    WorkerResults results = workers_[k]->Take();
    staleRetries_[k] = results.staleRetries;
    Merge(results, sink);
  }
  if (small_) small_->Collect(sink);
}

void ThreadedEngine::Merge(WorkerResults& results, ResultSink& sink) {
  for (auto& [token, triples] : results.progress) {
    auto it = calls_.find(token);
    if (it == calls_.end()) continue;
    Batch& whole = *it->second.whole;
    whole.progress.insert(whole.progress.end(), triples.begin(), triples.end());
    sink.Progress(whole);
  }
  for (auto& part : results.finished) {
    auto it = calls_.find(part->tx.token);
    it->second.whole->MergePart(*part);
    if (--it->second.partsLeft) continue;
    sink.Done(*it->second.whole);
    calls_.erase(it);
  }
  for (const Unreachable& u : results.unreachable) sink.Unreachable(u);
  if (results.zeroCopyRefused) zeroCopyRefused_ = results.zeroCopyRefused;
}

void ThreadedEngine::KeepLoopAlive(bool alive) {
  if (small_) small_->KeepLoopAlive(alive);
  if (alive) uv_ref(reinterpret_cast<uv_handle_t*>(resultsReady_));
  else uv_unref(reinterpret_cast<uv_handle_t*>(resultsReady_));
}

void ThreadedEngine::Drain() {
  StopWorkers();
  if (small_) small_->Drain();
}

// Every worker drains at once (each bounded), then all are joined.
void ThreadedEngine::StopWorkers() {
  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
}

BackendInfo ThreadedEngine::Info() const {
  BackendInfo info = workers_.front()->Info();
  info.zeroCopyRefused = zeroCopyRefused_;
  info.staleRetries = 0;
  for (double count : staleRetries_) info.staleRetries += count;
  if (small_) {
    BackendInfo own = small_->Info();
    info.staleRetries += own.staleRetries;
    info.zeroCopyRefused = info.zeroCopyRefused ? info.zeroCopyRefused : own.zeroCopyRefused;
  }
  return info;
}

void ThreadedEngine::OnResults(uv_async_t* handle) {
  auto* self = static_cast<ThreadedEngine*>(handle->data);
  if (self) self->notify_();
}

}  // namespace sendgroup

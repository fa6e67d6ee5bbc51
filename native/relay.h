// The JavaScript-facing Relay: receives datagrams on its socket and sends
// each, from the buffer it landed in, to every member of its table: on a
// native thread of its own (relay_thread.h: threads: 0), or on this
// thread's loop through an engine (engine.h) as a Sender would. Closed
// by default: only datagrams from allowed sources are forwarded. Results
// stay here as counters; only 'unreachable' events and the close reach
// JavaScript (the mailbox).
#pragma once

#include <napi.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "args.h"
#include "engine.h"
#include "js_link.h"
#include "make_engine.h"
#include "outbox.h"
#include "receiver.h"
#include "relay_members.h"
#include "relay_thread.h"
#include "socket.h"

namespace sendgroup {

class Relay : public Napi::ObjectWrap<Relay>, public ResultSink {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeRelay(options, notify, mailbox, attachments)
  explicit Relay(const Napi::CallbackInfo& info);
  ~Relay() override;

 private:
  // The members: add(packed member, id), remove(id), clear(); each takes
  // effect for the next datagram.
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Take(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  // threads: 0 on a thread of its own, where the kernel lets it start one
  // (and set up its rings, with io_uring); whether it runs there.
  bool StartThread(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket);
  // Anything else: receiver and engine on this thread's loop.
  void StartOnLoop(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket);
  int Duplicate(Napi::Env env) const;

  // On the relay's thread, or this one's loop.
  void OnDatagram(const Datagram& datagram);
  // Collects results once kSendsPerResults member sends went since the last time.
  void CollectEvery(uint32_t sends);
  void ReturnSlot(int slot);
  bool Allowed(const HostPort& source) const;
  // A member the relay would send to itself (see relay.cc): marked failed
  // with ELOOP instead, since every datagram would come back forever.
  void RefuseItself(Destination& member);
  // Whether an address and port is the relay's own socket (from any
  // thread), judged by the host's addresses as read at most maxAge ago.
  bool IsItself(const HostPort& address, std::chrono::milliseconds maxAge);
  // Whether a datagram's source is the relay itself (OnDatagram's thread).
  bool IsLooped(const HostPort& source);
  bool IsHostAddress(const HostPort& address, std::chrono::milliseconds maxAge);
  static constexpr std::chrono::milliseconds kLoopCheckAge{100};
  // On the relay's thread: its backend's results, and a wake-up here when
  // there are records for JavaScript.
  void CollectOnThread(Backend& backend);
  static void OnWake(uv_async_t* handle);
  bool InFlight() const;
  // The records the relay's thread left, into the outbox.
  void TakeUnreachable();
  // Datagrams the socket dropped since we began reading it.
  double Dropped() const;
  // From the loop: collect the engine's results, finish a close, and tell
  // JavaScript when records wait.
  void Notify();
  void Settle();
  Napi::Value Mail(Napi::Env env);
  void Release();
  static void OnEnvCleanup(void* self);

  void Progress(Batch& /*batch*/) override {}
  void Done(Batch& batch) override;
  void Unreachable(const struct Unreachable& u) override;

  int fd_ = -1;
  int family_ = 0;
  HostPort self_;  // where the socket is bound
  // This host's addresses as last read, and when (IsHostAddress): read by
  // the JavaScript thread's edits and the relay thread's datagrams.
  std::mutex hostAddressesMutex_;
  std::vector<HostPort> hostAddresses_;
  std::chrono::steady_clock::time_point hostAddressesAt_;
  FoundOptions found_;  // an adopted socket's, restored at release
  std::shared_ptr<SlotPool> pool_;
  std::unique_ptr<RelayThread> thread_;  // or, on this thread's loop:
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Receiver> receiver_;
  uv_async_t* wake_ = nullptr;  // with thread_: records waiting, or its end
  // What the relay's thread shares with the calls from JavaScript: the
  // table, the counters and unreachable_.
  std::mutex mutex_;
  RelayMembers members_;
  std::vector<struct Unreachable> unreachable_;
  std::vector<HostPort> allowed_;  // port 0: any
  bool allowAny_ = false;
  int zeroCopy_ = 0;  // 0 never, 1 always, 2 from zeroCopyMinBytes_ up
  size_t zeroCopyMinBytes_ = 0;
  uint32_t nextToken_ = 1;
  uint32_t sendsSinceResults_ = 0;  // on whichever thread forwards
  HostPort lastOther_;  // IsLooped's: on whichever thread forwards
  std::chrono::steady_clock::time_point lastOtherAt_;
  Outbox outbox_;
  bool closing_ = false;
  bool released_ = false;
  bool hookAdded_ = false;
  size_t maxDatagram_ = 0;
  // For stats() (under mutex_).
  struct Counters {
    double received = 0, forwarded = 0, sends = 0, bytes = 0, notAllowed = 0, noMembers = 0, truncated = 0, looped = 0;
    double settled = 0;  // forwarded datagrams whose sends are all done and counted
    double staleRetries = 0;  // the thread's, and the engine's when it goes
    std::map<int, double> failures;  // by errno
  };
  Counters counters_;
  // The socket's drop count when we began reading it (an adopted socket may
  // have dropped some before), and our count when it closed.
  uint32_t dropsBefore_ = 0;
  double dropsAtStop_ = 0;  // noBuffer as close() (or, without one, teardown) left it
  const char* backend_ = "";
  JsLink js_;
};

}  // namespace sendgroup

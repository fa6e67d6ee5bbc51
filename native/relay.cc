#include "relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "args.h"
#include "errors.h"
#include "mmsg_receiver.h"
#include "socket.h"
#include "uring_receiver.h"

namespace sendgroup {

namespace {

std::vector<HostPort> ReadAllowed(const uint8_t* packed, uint32_t count) {
  std::vector<HostPort> out(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* entry = packed + size_t(i) * kMemberBytes;
    out[i].family = entry[0];
    std::memcpy(&out[i].portBe, entry + 2, 2);
    std::memcpy(out[i].address, entry + 8, 16);
    std::memcpy(&out[i].scope, entry + 4, 4);
    // Sources are matched as IPv4 when the socket sees them v4-mapped
    // (Allowed), so an entry written v4-mapped ('::ffff:10.0.0.1') is one too.
    in6_addr v6;  // the packed bytes are not aligned for in6_addr
    std::memcpy(&v6, out[i].address, sizeof(v6));
    if (out[i].family == 6 && IN6_IS_ADDR_V4MAPPED(&v6)) {
      out[i].family = 4;
      std::memmove(out[i].address, out[i].address + 12, 4);
      std::memset(out[i].address + 4, 0, 12);  // as HostPortOf leaves an IPv4 address
    }
  }
  return out;
}

}  // namespace

Napi::Function Relay::Define(Napi::Env env) {
  return DefineClass(env, "NativeRelay",
                     {
                         InstanceMethod<&Relay::Add>("add"),
                         InstanceMethod<&Relay::Remove>("remove"),
                         InstanceMethod<&Relay::Clear>("clear"),
                         InstanceMethod<&Relay::Take>("take"),
                         InstanceMethod<&Relay::Close>("close"),
                         InstanceMethod<&Relay::Address>("address"),
                         InstanceMethod<&Relay::Stats>("stats"),
                     });
}

Relay::Relay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Relay>(info) {
  Napi::Env env = info.Env();
  CheckConstructorArgs(info, "NativeRelay(options, notify, mailbox, attachments)");
  RelayArgs args = ReadRelayArgs(info[0].As<Napi::Object>());
  Socket socket = OpenSocket(env, args.sender.socket);
  fd_ = socket.fd;
  family_ = socket.family;
  found_ = socket.found;
  dropsBefore_ = SocketDrops(fd_);
  allowed_ = ReadAllowed(args.allow.data, args.allowCount);
  allowAny_ = args.allowAny;
  maxDatagram_ = args.maxDatagram;
  zeroCopy_ = args.zeroCopy;
  zeroCopyMinBytes_ = args.zeroCopyMinBytes;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  const SenderArgs& s = args.sender;
  EngineSpec spec{s.backend, s.ring, s.threads, s.socket, s.inlineBelow};
  try {
    sockaddr_storage bound = LocalAddress(env, fd_);
    self_ = HostPortOf(reinterpret_cast<sockaddr*>(&bound));
    std::vector<Destination> members;
    ParseDestinations(args.table.data, args.count, family_, members);
    for (Destination& member : members) RefuseItself(member);
    members_ = RelayMembers(std::move(members), std::move(args.ids));
    pool_ = std::make_shared<SlotPool>(args.buffers, args.bufferSize);
    if (!StartThread(env, loop, spec, socket)) StartOnLoop(env, loop, spec, socket);
    js_.Attach(info, "sendgroup:relay");
  } catch (...) {
    Release();
    throw;
  }
  // A relay serves until closed, as a bound dgram socket does, and after
  // close() until what is in flight is sent: it keeps the loop alive (wake_,
  // or its engine's handles, until Release) and itself from being collected.
  if (engine_) engine_->KeepLoopAlive(true);
  Ref();
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  hookAdded_ = true;
}

bool Relay::StartThread(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket) {
  if (spec.threads) return false;
  BackendChoice choice = ChooseBackend(spec, *pool_);
  // A refused 'io_uring' throws on the loop path (MakeEngine).
  if (choice.refused) return false;
  RelayThreadConfig config{fd_, Duplicate(env), socket.errorRoom, choice.uring, choice.ioUringErrno,
                           spec.ring, pool_.get()};
  auto thread = std::make_unique<RelayThread>(
      config, [this](const Datagram& d) { OnDatagram(d); }, [this](Backend& b) { CollectOnThread(b); },
      [this] { uv_async_send(wake_); });
  // No thread (a task limit) or no ring for it: this thread's loop serves.
  if (thread->StartErrno() || thread->SetupErrno()) return false;
  wake_ = new uv_async_t;
  uv_async_init(loop, wake_, OnWake);
  wake_->data = this;
  backend_ = thread->Info().name;
  thread_ = std::move(thread);
  thread_->Begin();
  return true;
}

void Relay::StartOnLoop(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket) {
  engine_ = MakeEngine(env, loop, spec, socket, pool_, [this] { Notify(); });
  backend_ = engine_->Info().name;
  auto onDatagram = [this](const Datagram& d) { OnDatagram(d); };
  auto onBurst = [this] { Notify(); };
  std::unique_ptr<UringReceiver> uring;
  if (std::string(backend_) == "io_uring") {
    uring = std::make_unique<UringReceiver>(loop, Duplicate(env), *pool_, spec.ring.deferTaskrun, onDatagram, onBurst);
  }
  if (uring && !uring->SetupErrno()) receiver_ = std::move(uring);
  else receiver_ = std::make_unique<MmsgReceiver>(loop, Duplicate(env), *pool_, onDatagram, onBurst);
}

// Each receiver reads a duplicate of its own (and closes it).
int Relay::Duplicate(Napi::Env env) const {
  int dup = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) ThrowSyscallError(env, "fcntl", errno);
  return dup;
}

Relay::~Relay() {
  if (hookAdded_) napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
  Release();
}

void Relay::OnEnvCleanup(void* self) {
  auto* relay = static_cast<Relay*>(self);
  relay->hookAdded_ = false;
  relay->Release();
}

namespace {

bool IsUnspecified(const HostPort& a) {
  static const uint8_t kZero[16] = {};
  return std::memcmp(a.address, kZero, 16) == 0;
}

bool SameBytes(const HostPort& a, const HostPort& b) {
  return a.family == b.family && std::memcmp(a.address, b.address, 16) == 0;
}

// A link-local address written without a zone (scope 0) is the same on
// every link; with zones, only on the same one.
bool SameAddress(const HostPort& a, const HostPort& b) {
  return SameBytes(a, b) && (a.scope == b.scope || a.scope == 0 || b.scope == 0);
}

bool IsLoopback(const HostPort& a) {
  static const uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.family == 4 ? a.address[0] == 127 : std::memcmp(a.address, kLoopback6, 16) == 0;
}

}  // namespace

bool Relay::Allowed(const HostPort& source) const {
  if (allowAny_) return true;
  // A dual-stack socket sees IPv4 sources v4-mapped; HostPortOf and
  // ReadAllowed both unmap them.
  for (const HostPort& a : allowed_) {
    if ((a.portBe == 0 || a.portBe == source.portBe) && SameAddress(a, source)) return true;
  }
  return false;
}

// The interfaces' addresses (getifaddrs), read again when older than
// maxAge, so a member added after an address came up is judged by it. Not
// bind(): with ip_nonlocal_bind, or for a multicast address, a socket binds
// to addresses that are not this host's.
bool Relay::IsHostAddress(const HostPort& to, std::chrono::milliseconds maxAge) {
  if (IsLoopback(to)) return true;
  std::lock_guard<std::mutex> lock(hostAddressesMutex_);
  auto now = std::chrono::steady_clock::now();
  if (now - hostAddressesAt_ > maxAge) {
    hostAddresses_.clear();
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6)) {
          hostAddresses_.push_back(HostPortOf(i->ifa_addr));
        }
      }
      freeifaddrs(list);
    }
    hostAddressesAt_ = now;
  }
  for (const HostPort& address : hostAddresses_) {
    if (SameAddress(address, to)) return true;
  }
  return false;
}

// The relay's own port, and its address, or with a wildcard bind any of
// this host's; an unspecified address (0.0.0.0, ::) the kernel delivers
// to this host too. A relay can still reach itself through another (a
// cycle of relays); that it cannot see.
void Relay::RefuseItself(Destination& member) {
  if (member.err) return;
  HostPort to = HostPortOf(&member.sa);
  if (to.portBe != self_.portBe) return;
  if (IsUnspecified(to) || IsItself(to, std::chrono::seconds(1))) member.err = ELOOP;
}

bool Relay::IsItself(const HostPort& a, std::chrono::milliseconds maxAge) {
  if (a.portBe != self_.portBe) return false;
  return IsUnspecified(self_) ? IsHostAddress(a, maxAge) : SameAddress(a, self_);
}

// A datagram from the relay itself is one it sent to a broadcast or
// multicast member on its own port, which its wildcard-bound socket
// receives too: forwarded, it would come round again, forever. A source of
// 0.0.0.0 is this host sending before it had an address to send from. In a
// tree of relays on one port number every datagram comes from the relay's
// own port: the last source found to be another is remembered, so those
// cost a comparison, not the host's address list. Both that and the list
// are at most kLoopCheckAge old: an address this host takes is seen as its
// own within twice that (a loop through it runs that long at most).
bool Relay::IsLooped(const HostPort& source) {
  if (source.portBe != self_.portBe) return false;
  if (IsUnspecified(source)) return true;
  auto now = std::chrono::steady_clock::now();
  if (SameBytes(source, lastOther_) && source.scope == lastOther_.scope && now - lastOtherAt_ < kLoopCheckAge) {
    return false;
  }
  if (IsItself(source, kLoopCheckAge)) return true;
  lastOther_ = source;
  lastOtherAt_ = now;
  return false;
}

// Received before close() stopped the receive: forwarded like the rest.
// A datagram dropped counts once, in the order docs/api.md gives: a
// stranger's (even one from this host's address on the relay's port: a
// neighbour sharing the port) is not allowed, then the length, the group,
// and last the loop check, which only an allowed source pays.
void Relay::OnDatagram(const Datagram& d) {
  HostPort source = HostPortOf(d.from);
  bool allowed = Allowed(source);
  bool truncated = d.truncated || d.length > maxDatagram_;
  bool looped = allowed && !truncated && IsLooped(source);
  Transmit tx;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counters_.received;
    if (!allowed) ++counters_.notAllowed;
    else if (truncated) ++counters_.truncated;
    else if (members_.Size() == 0) ++counters_.noMembers;
    else if (looped) ++counters_.looped;
    else tx.destinations = members_.Current();
    if (tx.destinations) ++counters_.forwarded;
  }
  if (!tx.destinations) {
    ReturnSlot(d.slot);
    return;
  }
  tx.token = nextToken_;
  nextToken_ = nextToken_ == UINT32_MAX ? 1 : nextToken_ + 1;
  tx.zeroCopy = zeroCopy_ == 1 || (zeroCopy_ == 2 && d.length >= zeroCopyMinBytes_);
  tx.payloadLength = d.length;
  auto batch = std::make_unique<Batch>(std::move(tx));
  // Sent from the buffer it landed in; the buffer takes the next datagram
  // once every send and zero-copy notification of this one is done.
  int slot = d.slot;
  batch->PlaceShared(std::make_shared<SharedCopy>(const_cast<uint8_t*>(d.data), slot, [this, slot] { ReturnSlot(slot); }));
  uint32_t sends = batch->tx.Count();
  if (thread_) thread_->Send(std::move(batch));
  else engine_->Start(std::move(batch), Sources{});
  CollectEvery(sends);
}

// A wake-up may take every receive buffer's datagram and send them all
// before its results are collected (kSendsPerResults). Called while the
// receiver delivers, the collection gives slots back (UringReceiver's
// Return may re-arm its receive, which its completion handling then finds
// armed; MmsgReceiver's were delivered already).
void Relay::CollectEvery(uint32_t sends) {
  sendsSinceResults_ += sends;
  if (sendsSinceResults_ < kSendsPerResults) return;
  sendsSinceResults_ = 0;
  if (thread_) thread_->CollectResults();
  else engine_->Collect(*this);
}

// To whoever receives: the relay's thread (where its batches end), or this
// thread's receiver (which Release drops only after the engine drained).
void Relay::ReturnSlot(int slot) {
  if (thread_) thread_->Return(slot);
  else if (receiver_) receiver_->Return(slot);
}

void Relay::Done(Batch& batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counters_.settled;
  counters_.sends += batch.sent;
  counters_.bytes += batch.bytes;
  for (size_t i = 1; i < batch.errors.size(); i += 2) ++counters_.failures[batch.errors[i]];
}

void Relay::Unreachable(const struct Unreachable& u) {
  std::lock_guard<std::mutex> lock(mutex_);
  unreachable_.push_back(u);
}

void Relay::CollectOnThread(Backend& backend) {
  backend.Collect(*this);
  std::lock_guard<std::mutex> lock(mutex_);
  counters_.staleRetries = backend.StaleRetries();
  if (!unreachable_.empty()) uv_async_send(wake_);
}

void Relay::OnWake(uv_async_t* handle) {
  auto* self = static_cast<Relay*>(handle->data);
  if (self) self->Notify();
}

void Relay::TakeUnreachable() {
  std::vector<struct Unreachable> taken;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    taken.swap(unreachable_);
  }
  for (const struct Unreachable& u : taken) outbox_.Unreachable(u);
}

// Edits wait in members_ for the next datagram (relay_members.h).
Napi::Value Relay::Add(const Napi::CallbackInfo& info) {
  ByteView packed = ReadBytes(info[0], "member");
  std::vector<Destination> parsed;
  if (packed.length < kMemberBytes || !ParseDestinations(packed.data, 1, family_, parsed)) {
    ThrowTypeError(info.Env(), "add() takes one packed member");
  }
  double id = info[1].As<Napi::Number>().DoubleValue();
  RefuseItself(parsed[0]);
  std::lock_guard<std::mutex> lock(mutex_);
  members_.Add(parsed[0], id);
  return info.Env().Undefined();
}

Napi::Value Relay::Remove(const Napi::CallbackInfo& info) {
  double id = info[0].As<Napi::Number>().DoubleValue();
  std::lock_guard<std::mutex> lock(mutex_);
  members_.Remove(id);
  return info.Env().Undefined();
}

Napi::Value Relay::Clear(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(mutex_);
  members_.Clear();
  return info.Env().Undefined();
}

Napi::Value Relay::Take(const Napi::CallbackInfo& info) { return Mail(info.Env()); }

// Receives what the socket holds, then no more; what is in flight
// finishes, then the relay releases everything and says so (the Closed
// record).
Napi::Value Relay::Close(const Napi::CallbackInfo& info) {
  if (!closing_) {
    closing_ = true;
    if (receiver_) receiver_->StopInOrder();
    if (thread_) thread_->Stop();
    // What the kernel drops from now on arrived after close(): discarded
    // with the socket, not counted (a slow drain could take seconds).
    if (fd_ >= 0) dropsAtStop_ = Dropped();
  }
  return Mail(info.Env());
}

Napi::Value Relay::Mail(Napi::Env env) {
  Settle();
  return js_.Write(env, outbox_);
}

void Relay::Settle() {
  if (engine_) engine_->Collect(*this);
  // Whether it has ended before its records are taken: the relay's thread
  // leaves its last ones before it ends.
  bool done = closing_ && !released_ && !InFlight();
  TakeUnreachable();
  if (done) {
    Release();
    Unref();  // the reference the constructor took
    outbox_.PushClosed();
  }
}

// On the loop, the receive ends with its cancel's last completion, and
// what it took before is forwarded then (UringReceiver::Stop).
bool Relay::InFlight() const {
  if (thread_) return !thread_->Ended();
  return (engine_ && !engine_->Idle()) || (receiver_ && receiver_->Receiving());
}

void Relay::Notify() {
  Settle();
  if (outbox_.Empty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (Value().IsEmpty()) return;
  Ref();
  js_.Call(env, Value());
  Unref();
}

Napi::Value Relay::Address(const Napi::CallbackInfo& info) {
  if (fd_ < 0) ThrowTypeError(info.Env(), "relay is closed");
  return LocalAddressObject(info.Env(), fd_);
}

Napi::Value Relay::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Counters c;
  double members;
  {
    // Copied out: the relay's thread waits for this lock per datagram.
    std::lock_guard<std::mutex> lock(mutex_);
    c = counters_;
    members = double(members_.Size());
  }
  if (engine_) c.staleRetries = engine_->Info().staleRetries;
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("received", c.received);
  stats.Set("forwarded", c.forwarded);
  stats.Set("pending", c.forwarded - c.settled);
  stats.Set("sends", c.sends);
  stats.Set("bytes", c.bytes);
  stats.Set("notAllowed", c.notAllowed);
  stats.Set("noMembers", c.noMembers);
  stats.Set("noBuffer", closing_ || fd_ < 0 ? dropsAtStop_ : Dropped());
  stats.Set("truncated", c.truncated);
  stats.Set("looped", c.looped);
  stats.Set("members", members);
  stats.Set("staleRetries", c.staleRetries);
  stats.Set("backend", backend_);
  Napi::Object failures = Napi::Object::New(env);
  for (const auto& [err, count] : c.failures) failures.Set(uint32_t(err), count);
  stats.Set("failures", failures);
  return stats;
}

// The kernel's count wraps at 2^32; so does the difference.
double Relay::Dropped() const { return double(uint32_t(SocketDrops(fd_) - dropsBefore_)); }

// Teardown: the engine finishes (bounded) what it holds, which gives the
// receiver its buffers back; then receiving ends, the buffers are unmapped
// and the socket closes.
void Relay::Release() {
  if (released_) return;
  released_ = true;
  if (thread_) {
    // Its last results and its end reach wake_ before the join returns.
    thread_->Shut();
    thread_->Join();
    thread_.reset();
    wake_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(wake_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  }
  if (receiver_) receiver_->Stop();
  if (engine_) {
    engine_->Drain();
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.staleRetries = engine_->Info().staleRetries;
  }
  engine_.reset();
  receiver_.reset();
  // The buffers go now, not when the collector gets to this object.
  pool_.reset();
  if (fd_ >= 0) {
    if (!closing_) dropsAtStop_ = Dropped();
    HandBack(fd_, found_);
    close(fd_);
  }
  fd_ = -1;
}

}  // namespace sendgroup

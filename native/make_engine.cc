#include "make_engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"
#include "inline_engine.h"
#include "mmsg_backend.h"
#include "threaded_engine.h"

namespace sendgroup {

namespace {

// A ring can be refused after the probe's small one was set up
// (RLIMIT_MEMLOCK): then nullptr, and why in err.
std::unique_ptr<Backend> RingBackend(const Socket& socket, const EngineSpec& spec, SlotPool& pool, int& err) {
  auto ring = std::make_unique<UringBackend>(socket.fd, socket.errorRoom, spec.ring, pool);
  err = ring->SetupErrno();
  return err ? nullptr : std::move(ring);
}

// The same socket under another descriptor.
Socket Duplicate(Napi::Env env, const Socket& socket) {
  Socket dup{fcntl(socket.fd, F_DUPFD_CLOEXEC, 0), socket.family, socket.errorRoom};
  if (dup.fd < 0) ThrowSyscallError(env, "fcntl", errno);
  return dup;
}

// Another socket on the same address and port, for another thread or for
// the calls sent inline: a twin in its reuseport group, or for a socket that
// receives (a relay's) a duplicate: twins would take a share of the
// datagrams arriving for it.
Socket Sibling(Napi::Env env, const EngineSpec& spec, const Socket& socket) {
  return spec.socket.receives ? Duplicate(env, socket) : Twin(env, spec.socket, socket);
}

// The first worker sends through a duplicate of the socket (the caller's
// stays for address()), the others through siblings.
std::vector<Socket> WorkerSockets(Napi::Env env, const EngineSpec& spec, const Socket& socket) {
  std::vector<Socket> sockets;
  try {
    sockets.push_back(Duplicate(env, socket));
    for (unsigned k = 1; k < spec.threads; ++k) sockets.push_back(Sibling(env, spec, socket));
  } catch (...) {
    for (const Socket& s : sockets) close(s.fd);
    throw;
  }
  return sockets;
}

// Small calls get a socket of their own where they can (a twin: no reader
// of a worker's socket then runs beside the worker's sends, errqueue.h; an
// adopted or receiving socket is shared by every thread already). Where
// the kernel refuses this one more ring, every call goes to the threads.
void AddInline(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket, const WorkerConfig& config,
               std::shared_ptr<SlotPool> pool, Engine::Notify notify, ThreadedEngine& engine) {
  Socket twin = Sibling(env, spec, socket);
  std::unique_ptr<Engine> small;
  try {
    int err = 0;
    std::unique_ptr<Backend> backend = config.backend == "io_uring"
                                           ? RingBackend(twin, spec, *pool, err)
                                           : std::make_unique<MmsgBackend>(twin.fd, twin.errorRoom, config.ioUringErrno);
    if (backend) small = std::make_unique<InlineEngine>(loop, twin.fd, std::move(pool), std::move(backend), std::move(notify));
  } catch (...) {
    close(twin.fd);
    throw;
  }
  if (!small) {
    close(twin.fd);
    return;
  }
  engine.SendInline(std::move(small), twin.fd, spec.inlineBelow);
}

// The probe's small ring can be set up where the workers' are refused
// (RLIMIT_MEMLOCK): then 'auto' sends with sendmmsg, as without threads.
std::unique_ptr<Engine> MakeThreaded(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket,
                                     const WorkerConfig& config, std::shared_ptr<SlotPool> pool, Engine::Notify notify) {
  auto engine = std::make_unique<ThreadedEngine>(loop, WorkerSockets(env, spec, socket), config, pool, notify);
  if (int err = engine->StartErrno()) ThrowSyscallError(env, "pthread_create", err);
  if (int err = engine->SetupErrno()) {
    const std::string syscall = engine->SetupSyscall();
    engine.reset();  // its workers end and close their sockets
    if (syscall != "io_uring_setup" || config.backend != "io_uring" || spec.backend != "auto") {
      ThrowSyscallError(env, syscall.c_str(), err);
    }
    WorkerConfig fallback = config;
    fallback.backend = "sendmmsg";
    fallback.ioUringErrno = err;
    return MakeThreaded(env, loop, spec, socket, fallback, std::move(pool), std::move(notify));
  }
  if (spec.inlineBelow) AddInline(env, loop, spec, socket, config, std::move(pool), std::move(notify), *engine);
  return engine;
}

}  // namespace

BackendChoice ChooseBackend(const EngineSpec& spec, const SlotPool& pool) {
  int err = spec.backend == "sendmmsg" ? 0 : IoUringSetupErrno(spec.ring, pool);
  return {spec.backend != "sendmmsg" && !err, err, err && spec.backend == "io_uring"};
}

std::unique_ptr<Engine> MakeEngine(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket,
                                   std::shared_ptr<SlotPool> pool, Engine::Notify notify) {
  auto [uring, ioUringErrno, refused] = ChooseBackend(spec, *pool);
  if (refused) ThrowSyscallError(env, "io_uring_setup", ioUringErrno);
  if (spec.threads) {
    WorkerConfig config{-1, 0, uring ? "io_uring" : "sendmmsg", ioUringErrno, spec.ring, nullptr};
    return MakeThreaded(env, loop, spec, socket, config, std::move(pool), std::move(notify));
  }
  std::unique_ptr<Backend> backend = uring ? RingBackend(socket, spec, *pool, ioUringErrno) : nullptr;
  if (!backend && ioUringErrno && spec.backend == "io_uring") ThrowSyscallError(env, "io_uring_setup", ioUringErrno);
  if (!backend) backend = std::make_unique<MmsgBackend>(socket.fd, socket.errorRoom, ioUringErrno);
  return std::make_unique<InlineEngine>(loop, socket.fd, std::move(pool), std::move(backend), std::move(notify));
}

}  // namespace sendgroup

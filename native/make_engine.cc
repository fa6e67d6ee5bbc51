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

// The first worker sends through a duplicate of the socket (the caller's
// stays for address()), the others through twins bound to the same address
// and port. A socket that receives (a relay's) is duplicated for every
// worker instead: twins in its reuseport group would take a share of the
// datagrams arriving for it.
std::unique_ptr<Engine> MakeThreaded(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket,
                                     const WorkerConfig& config, std::shared_ptr<SlotPool> pool, Engine::Notify notify) {
  std::vector<int> fds;
  std::vector<unsigned> rooms;
  try {
    fds.push_back(fcntl(socket.fd, F_DUPFD_CLOEXEC, 0));
    if (fds.back() < 0) ThrowSyscallError(env, "fcntl", errno);
    rooms.push_back(socket.errorRoom);
    for (unsigned k = 1; k < spec.threads; ++k) {
      Socket twin = spec.socket.receives ? Socket{fcntl(socket.fd, F_DUPFD_CLOEXEC, 0), socket.family, socket.errorRoom}
                                         : Twin(env, spec.socket, socket);
      if (twin.fd < 0) ThrowSyscallError(env, "fcntl", errno);
      fds.push_back(twin.fd);
      rooms.push_back(twin.errorRoom);
    }
  } catch (...) {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
    throw;
  }
  auto engine = std::make_unique<ThreadedEngine>(loop, fds, rooms, config, std::move(pool), std::move(notify));
  if (int err = engine->SetupErrno()) ThrowSyscallError(env, "io_uring_setup", err);
  return engine;
}

}  // namespace

int EngineIoUringErrno(const EngineSpec& spec, const SlotPool& pool) {
  return spec.backend == "sendmmsg" ? EPERM : IoUringSetupErrno(spec.ring, pool);
}

std::unique_ptr<Engine> MakeEngine(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket,
                                   std::shared_ptr<SlotPool> pool, Engine::Notify notify) {
  // 'auto': sendmmsg where io_uring is refused (seccomp EPERM,
  // io_uring_disabled, ENOMEM); 'io_uring' throws that error instead.
  int ioUringErrno = spec.backend == "sendmmsg" ? 0 : IoUringSetupErrno(spec.ring, *pool);
  if (ioUringErrno && spec.backend == "io_uring") ThrowSyscallError(env, "io_uring_setup", ioUringErrno);
  bool uring = spec.backend != "sendmmsg" && !ioUringErrno;
  if (spec.threads) {
    WorkerConfig config{-1, 0, uring ? "io_uring" : "sendmmsg", ioUringErrno, spec.ring, nullptr};
    return MakeThreaded(env, loop, spec, socket, config, std::move(pool), std::move(notify));
  }
  std::unique_ptr<Backend> backend;
  if (uring) backend = std::make_unique<UringBackend>(socket.fd, socket.errorRoom, spec.ring, *pool);
  else backend = std::make_unique<MmsgBackend>(socket.fd, socket.errorRoom, ioUringErrno);
  return std::make_unique<InlineEngine>(loop, socket.fd, std::move(pool), std::move(backend), std::move(notify));
}

}  // namespace sendgroup

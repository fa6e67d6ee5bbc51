// The engine a Sender or a Relay sends through, made from its options: the
// backend ('auto' falls back to sendmmsg where io_uring is refused) and
// inline or on threads.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

#include "engine.h"
#include "socket.h"
#include "uring_backend.h"

namespace sendgroup {

struct EngineSpec {
  std::string backend;  // 'auto', 'io_uring' or 'sendmmsg'
  RingOptions ring;
  unsigned threads = 0;
  SocketSpec socket;    // how twins of the socket are made, for threads
  // With threads: calls to fewer members than this are sent on the
  // JavaScript thread while no call is on the threads (0: none are).
  uint32_t inlineBelow = 0;
};

// Throws io_uring_setup's error for backend 'io_uring' where it is refused.
std::unique_ptr<Engine> MakeEngine(Napi::Env env, uv_loop_t* loop, const EngineSpec& spec, const Socket& socket,
                                   std::shared_ptr<SlotPool> pool, Engine::Notify notify);
// The backend spec asks for, where the kernel allows it: 'auto' is
// sendmmsg where io_uring is refused (seccomp EPERM, io_uring_disabled,
// ENOMEM); 'io_uring' is then refused (refused: MakeEngine throws it).
struct BackendChoice {
  bool uring;
  int ioUringErrno;  // why not io_uring (0 for 'sendmmsg', which never asks)
  bool refused;
};
BackendChoice ChooseBackend(const EngineSpec& spec, const SlotPool& pool);

}  // namespace sendgroup

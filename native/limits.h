// The addon's limits, exported once (addon.cc) so lib/ validates against the
// same numbers; defaults live in lib/options.ts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sendgroup {

constexpr unsigned kMaxQueueDepth = 16384;
constexpr unsigned kMaxSlots = 1024;
// Sending threads of one Sender.
constexpr unsigned kMaxThreads = 64;
// A relay's receive buffers (a provided-buffer ring holds at most 32768)
// and the most one buffer may hold: a datagram, its source and control
// messages (io_uring puts them in front of the datagram).
constexpr unsigned kMaxRelayBuffers = 32768;
constexpr unsigned kMaxRelayBufferSize = 1u << 17;
// The largest UDP send (one datagram, or one GSO burst), and so the most
// per-recipient bytes one member can carry.
constexpr size_t kMaxSendBytes = 65535;

}  // namespace sendgroup

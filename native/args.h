// Arguments from lib/ (already validated there) turned into native values.
// Every read that JavaScript could observe happens in the Read* functions,
// before the caller checks its own state or takes a pointer into a buffer:
// lib/ passes fresh arrays and plain objects, so nothing user-defined runs,
// and what is checked here is only what memory safety needs.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "batch.h"
#include "socket.h"
#include "uring_backend.h"

namespace sendgroup {

// A Uint8Array's bytes, read once. A buffer detached since lib/ looked has
// length 0 (V8's rule), so nothing is read from it; lib/ makes that an error
// before it calls.
struct ByteView {
  const uint8_t* data = nullptr;
  size_t length = 0;
};

// A Uint8Array argument (TypeError naming `what` for anything else).
ByteView ReadBytes(Napi::Value value, const char* what);

// Per-recipient bytes: absent, one Uint8Array per member, or { data, stride }.
struct ExtrasArg {
  std::vector<ByteView> parts;
  ByteView data;
  uint32_t stride = 0;
  bool present = false;
  bool strided = false;
};

using Destinations = std::shared_ptr<const std::vector<Destination>>;

struct SendArgs {
  uint32_t token = 0;
  ByteView table;
  Destinations parsed;  // the table as parsed before (TableHandle), instead of `table`
  uint32_t count = 0;
  ByteView payload;
  ExtrasArg prefix, suffix;
  bool zeroCopy = false;
  uint16_t segmentSize = 0;
  bool stream = false;
};

// send(table, payload, prefix, suffix), the numbers in the mailbox's call
// fields (outbox.h): a call crosses with as few N-API reads as it can.
// table: a packed member table, or a TableHandle made from one.
SendArgs ReadSendArgs(const Napi::CallbackInfo& info, const double* call);
// A member table parsed once for a socket of this family, as an External
// lib/ keeps with the Group's snapshot and passes to send() instead of the
// table: a Group sent to again and again is not parsed again. Type-tagged:
// send() takes no other External for one.
Napi::Value TableHandle(Napi::Env env, const ByteView& table, uint32_t count, int family);

// The batch for these arguments on a socket of this family, and where the
// caller's bytes are (valid until the caller returns to JavaScript).
std::unique_ptr<Batch> MakeBatch(Napi::Env env, const SendArgs& args, int family, Sources& sources);

struct SenderArgs {
  SocketSpec socket;
  std::string backend;  // 'auto', 'io_uring' or 'sendmmsg'
  RingOptions ring;
  unsigned slots = 0;
  unsigned threads = 0;
  uint32_t inlineBelow = 0;  // with threads: smaller calls inline while the threads are idle
};

// new NativeSender({ bind | fd, backend, queueDepth, slots, registerBuffers,
//                    sendBufferSize, deferTaskrun }, ...)
SenderArgs ReadSenderArgs(Napi::Object options);

struct RelayArgs {
  SenderArgs sender;  // bind: where to listen; slots unused
  ByteView allow;  // packed members, port 0: any port
  uint32_t allowCount = 0;
  bool allowAny = false;
  ByteView table;  // the group's members
  uint32_t count = 0;
  std::vector<double> ids;  // and their ids, as many (a Float64Array)
  int zeroCopy = 0;  // 0 never, 1 always, 2 from zeroCopyMinBytes up
  uint32_t zeroCopyMinBytes = 0;
  uint32_t buffers = 0;
  uint32_t bufferSize = 0;
  uint32_t maxDatagram = 0;  // longer ones are dropped (a buffer holds more)
};

// new NativeRelay({ ...the Sender's, allow, allowCount, allowAny, table,
//                   count, ids, zeroCopy, zeroCopyMinBytes, buffers, bufferSize,
//                   maxDatagram }, ...)
RelayArgs ReadRelayArgs(Napi::Object options);

}  // namespace sendgroup

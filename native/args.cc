#include "args.h"

#include "errors.h"
#include "limits.h"

namespace sendgroup {

namespace {

Napi::Uint8Array Bytes(Napi::Value value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(value.Env(), std::string(what) + " must be a Uint8Array");
  }
  return value.As<Napi::Uint8Array>();
}

// A buffer transferred away after lib/ checked it has no memory to copy from.
void CheckAttached(Napi::Env env, const Napi::Uint8Array& bytes, const char* what) {
  if (bytes.ArrayBuffer().IsDetached()) ThrowValueError(env, std::string(what) + " is backed by a detached ArrayBuffer");
}

uint32_t Uint(Napi::Value value, const char* what) {
  if (!value.IsNumber()) ThrowTypeError(value.Env(), std::string(what) + " must be a number");
  return value.As<Napi::Number>().Uint32Value();
}

ExtrasArg ReadExtras(Napi::Value value, const char* what) {
  ExtrasArg out;
  if (value.IsUndefined()) return out;
  out.present = true;
  if (value.IsArray()) {
    Napi::Array parts = value.As<Napi::Array>();
    uint32_t length = parts.Length();
    out.parts.reserve(length);
    for (uint32_t i = 0; i < length; ++i) out.parts.push_back(Bytes(parts.Get(i), what));
    return out;
  }
  if (!value.IsObject()) ThrowTypeError(value.Env(), std::string(what) + " must be an array or { data, stride }");
  Napi::Object spec = value.As<Napi::Object>();
  out.strided = true;
  out.data = Bytes(spec.Get("data"), what);
  out.stride = Uint(spec.Get("stride"), what);
  return out;
}

// Records where each member's bytes are (Batch::Place copies them). The
// lengths must add up for the table and for uint32 offsets: beyond that
// the copy would read past a buffer.
void PlaceExtras(Napi::Env env, const ExtrasArg& arg, uint32_t count, const char* what, Extras& out,
                 std::vector<const uint8_t*>& sources) {
  if (!arg.present) return;
  out.starts.resize(count);
  out.lengths.resize(count);
  sources.resize(count);
  uint64_t total = 0;
  if (arg.strided) {
    if (arg.stride > kMaxSendBytes || uint64_t(arg.stride) * count != arg.data.ByteLength()) {
      ThrowRangeError(env, std::string(what) + ".data must hold stride bytes per member");
    }
  } else if (arg.parts.size() != count) {
    ThrowRangeError(env, std::string(what) + " must have one entry per member");
  }
  if (arg.strided) CheckAttached(env, arg.data, what);
  for (uint32_t i = 0; i < count; ++i) {
    if (!arg.strided) CheckAttached(env, arg.parts[i], what);
    size_t length = arg.strided ? arg.stride : arg.parts[i].ByteLength();
    if (length > kMaxSendBytes) ThrowRangeError(env, std::string(what) + " entry is too long");
    out.starts[i] = uint32_t(total);
    out.lengths[i] = uint32_t(length);
    sources[i] = arg.strided ? arg.data.Data() + size_t(i) * arg.stride : arg.parts[i].Data();
    total += length;
    if (total > UINT32_MAX) ThrowRangeError(env, std::string(what) + " is too large");
  }
  out.total = total;
}

// -1 where lib left an option unset.
int OptionalInt(Napi::Object o, const char* key) {
  Napi::Value value = o.Get(key);
  return value.IsNumber() ? value.As<Napi::Number>().Int32Value() : -1;
}

SocketOptions ReadSocketOptions(Napi::Object o) {
  SocketOptions out;
  out.ttl = OptionalInt(o, "ttl");
  out.tos = OptionalInt(o, "tos");
  out.broadcast = OptionalInt(o, "broadcast");
  out.multicastTtl = OptionalInt(o, "multicastTtl");
  out.multicastLoopback = OptionalInt(o, "multicastLoopback");
  Napi::Value interface = o.Get("multicastInterface");
  if (interface.IsTypedArray()) {
    Napi::Uint8Array packed = Bytes(interface, "multicastInterface");
    std::vector<Destination> parsed;
    if (packed.ByteLength() < kMemberBytes ||
        !ParseDestinations(packed.Data(), 1, packed.Data()[0] == 4 ? AF_INET : AF_INET6, parsed)) {
      ThrowTypeError(o.Env(), "multicastInterface must be one packed member");
    }
    out.multicastInterface = parsed[0];
  }
  return out;
}

}  // namespace

SendArgs ReadSendArgs(const Napi::CallbackInfo& info) {
  SendArgs args;
  args.token = Uint(info[0], "token");
  args.table = Bytes(info[1], "table");
  args.count = Uint(info[2], "count");
  args.payload = Bytes(info[3], "payload");
  args.prefix = ReadExtras(info[4], "prefix");
  args.suffix = ReadExtras(info[5], "suffix");
  args.zeroCopy = info[6].ToBoolean();
  args.segmentSize = uint16_t(Uint(info[7], "segmentSize"));
  args.stream = info[8].ToBoolean();
  return args;
}

std::unique_ptr<Batch> MakeBatch(Napi::Env env, const SendArgs& args, int family, Sources& sources) {
  Transmit tx;
  tx.token = args.token;
  tx.zeroCopy = args.zeroCopy;
  tx.segmentSize = args.segmentSize;
  tx.stream = args.stream;
  if (uint64_t(args.count) * kMemberBytes > args.table.ByteLength()) ThrowRangeError(env, "table is too short");
  auto destinations = std::make_shared<std::vector<Destination>>();
  if (!ParseDestinations(args.table.Data(), args.count, family, *destinations)) ThrowTypeError(env, "table is malformed");
  tx.destinations = std::move(destinations);
  PlaceExtras(env, args.prefix, args.count, "prefix", tx.prefix, sources.prefix);
  PlaceExtras(env, args.suffix, args.count, "suffix", tx.suffix, sources.suffix);
  CheckAttached(env, args.payload, "payload");
  tx.payloadLength = args.payload.ByteLength();
  sources.payload = args.payload.Data();
  return std::make_unique<Batch>(std::move(tx));
}

SenderArgs ReadSenderArgs(Napi::Object options) {
  Napi::Env env = options.Env();
  SenderArgs args;
  Napi::Value fd = options.Get("fd");
  if (fd.IsNumber()) {
    args.socket.adopt = fd.As<Napi::Number>().Int32Value();
  } else {
    Napi::Uint8Array packed = Bytes(options.Get("bind"), "bind");
    std::vector<Destination> local;
    if (packed.ByteLength() < kMemberBytes ||
        !ParseDestinations(packed.Data(), 1, packed.Data()[0] == 4 ? AF_INET : AF_INET6, local)) {
      ThrowTypeError(env, "bind must be one packed member");
    }
    args.socket.bind = local[0];
  }
  args.socket.sendBufferSize = int(Uint(options.Get("sendBufferSize"), "sendBufferSize") & 0x3fffffff);
  args.socket.options = ReadSocketOptions(options.Get("socketOptions").As<Napi::Object>());
  args.backend = options.Get("backend").ToString().Utf8Value();
  args.ring.queueDepth = Uint(options.Get("queueDepth"), "queueDepth");
  args.slots = Uint(options.Get("slots"), "slots");
  args.threads = Uint(options.Get("threads"), "threads");
  if (args.ring.queueDepth < 1 || args.ring.queueDepth > kMaxQueueDepth || args.slots < 1 || args.slots > kMaxSlots ||
      args.threads > kMaxThreads) {
    ThrowRangeError(env, "queueDepth, slots or threads out of range");
  }
  args.socket.shared = args.threads > 1;
  args.ring.registerBuffers = options.Get("registerBuffers").ToBoolean();
  args.ring.deferTaskrun = options.Get("deferTaskrun").ToBoolean();
  return args;
}

RelayArgs ReadRelayArgs(Napi::Object options) {
  Napi::Env env = options.Env();
  RelayArgs args;
  args.sender = ReadSenderArgs(options);
  args.sender.socket.receives = true;
  args.sender.socket.shared = false;  // one socket for every thread (make_engine.cc)
  args.allow = Bytes(options.Get("allow"), "allow");
  args.allowCount = Uint(options.Get("allowCount"), "allowCount");
  args.allowAny = options.Get("allowAny").ToBoolean();
  args.table = Bytes(options.Get("table"), "table");
  args.count = Uint(options.Get("count"), "count");
  args.zeroCopy = int(Uint(options.Get("zeroCopy"), "zeroCopy"));
  args.zeroCopyMinBytes = Uint(options.Get("zeroCopyMinBytes"), "zeroCopyMinBytes");
  args.buffers = Uint(options.Get("buffers"), "buffers");
  args.bufferSize = Uint(options.Get("bufferSize"), "bufferSize");
  if (uint64_t(args.allowCount) * kMemberBytes > args.allow.ByteLength() ||
      uint64_t(args.count) * kMemberBytes > args.table.ByteLength()) {
    ThrowRangeError(env, "allow or table is too short");
  }
  if (args.buffers < 1 || args.buffers > kMaxRelayBuffers || args.bufferSize < 1 || args.bufferSize > kMaxRelayBufferSize) {
    ThrowRangeError(env, "buffers or bufferSize out of range");
  }
  return args;
}

}  // namespace sendgroup

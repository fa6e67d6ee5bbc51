#include "args.h"

#include "errors.h"
#include "limits.h"
#include "outbox.h"

namespace sendgroup {

ByteView ReadBytes(Napi::Value value, const char* what) {
  napi_typedarray_type type;
  ByteView view;
  void* data = nullptr;
  // One call checks it is a typed array and reads it (invalid_arg if not).
  napi_status status = napi_get_typedarray_info(value.Env(), value, &type, &view.length, &data, nullptr, nullptr);
  if (status != napi_ok || type != napi_uint8_array) ThrowTypeError(value.Env(), std::string(what) + " must be a Uint8Array");
  view.data = static_cast<const uint8_t*>(data);
  return view;
}

namespace {

// Tags our table handles (napi_type_tag_object): any other External is refused.
constexpr napi_type_tag kTableTag = {0x53656e6447726f75ull, 0x705461626c653031ull};

Destinations ParseTable(Napi::Env env, const ByteView& table, uint32_t count, int family) {
  if (uint64_t(count) * kMemberBytes > table.length) ThrowRangeError(env, "table is too short");
  auto destinations = std::make_shared<std::vector<Destination>>();
  if (!ParseDestinations(table.data, count, family, *destinations)) ThrowTypeError(env, "table is malformed");
  return destinations;
}

Destinations ReadTableHandle(Napi::Value value) {
  bool ours = false;
  napi_check_object_type_tag(value.Env(), value, &kTableTag, &ours);
  if (!ours) ThrowTypeError(value.Env(), "table must be a Uint8Array or a table handle");
  return *value.As<Napi::External<Destinations>>().Data();
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
    for (uint32_t i = 0; i < length; ++i) out.parts.push_back(ReadBytes(parts.Get(i), what));
    return out;
  }
  if (!value.IsObject()) ThrowTypeError(value.Env(), std::string(what) + " must be an array or { data, stride }");
  Napi::Object spec = value.As<Napi::Object>();
  out.strided = true;
  out.data = ReadBytes(spec.Get("data"), what);
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
    if (arg.stride > kMaxSendBytes || uint64_t(arg.stride) * count != arg.data.length) {
      ThrowRangeError(env, std::string(what) + ".data must hold stride bytes per member");
    }
  } else if (arg.parts.size() != count) {
    ThrowRangeError(env, std::string(what) + " must have one entry per member");
  }
  for (uint32_t i = 0; i < count; ++i) {
    size_t length = arg.strided ? arg.stride : arg.parts[i].length;
    if (length > kMaxSendBytes) ThrowRangeError(env, std::string(what) + " entry is too long");
    out.starts[i] = uint32_t(total);
    out.lengths[i] = uint32_t(length);
    sources[i] = arg.strided ? arg.data.data + size_t(i) * arg.stride : arg.parts[i].data;
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
    ByteView packed = ReadBytes(interface, "multicastInterface");
    std::vector<Destination> parsed;
    if (packed.length < kMemberBytes || !ParseDestinations(packed.data, 1, packed.data[0] == 4 ? AF_INET : AF_INET6, parsed)) {
      ThrowTypeError(o.Env(), "multicastInterface must be one packed member");
    }
    out.multicastInterface = parsed[0];
  }
  return out;
}

}  // namespace

SendArgs ReadSendArgs(const Napi::CallbackInfo& info, const double* call) {
  SendArgs args;
  if (info[0].IsExternal()) args.parsed = ReadTableHandle(info[0]);
  else args.table = ReadBytes(info[0], "table");
  args.payload = ReadBytes(info[1], "payload");
  if (info.Length() > 2) {  // lib/ leaves both out when the call has neither
    args.prefix = ReadExtras(info[2], "prefix");
    args.suffix = ReadExtras(info[3], "suffix");
  }
  // Numbers lib/ wrote; a double out of range converts to anything, never
  // to undefined behaviour (the checks below bound what they index).
  auto number = [call](uint32_t field) { double v = call[field]; return v >= 0 && v <= UINT32_MAX ? uint32_t(v) : 0u; };
  args.token = number(kCallToken);
  args.count = number(kCallCount);
  args.zeroCopy = number(kCallZeroCopy) != 0;
  args.segmentSize = uint16_t(number(kCallSegmentSize));
  args.stream = number(kCallStream) != 0;
  return args;
}

std::unique_ptr<Batch> MakeBatch(Napi::Env env, const SendArgs& args, int family, Sources& sources) {
  Transmit tx;
  tx.token = args.token;
  tx.zeroCopy = args.zeroCopy;
  tx.segmentSize = args.segmentSize;
  tx.stream = args.stream;
  if (args.parsed && args.parsed->size() != args.count) ThrowRangeError(env, "count does not match the table");
  tx.destinations = args.parsed ? args.parsed : ParseTable(env, args.table, args.count, family);
  PlaceExtras(env, args.prefix, args.count, "prefix", tx.prefix, sources.prefix);
  PlaceExtras(env, args.suffix, args.count, "suffix", tx.suffix, sources.suffix);
  tx.payloadLength = args.payload.length;
  sources.payload = args.payload.data;
  return std::make_unique<Batch>(std::move(tx));
}

Napi::Value TableHandle(Napi::Env env, const ByteView& table, uint32_t count, int family) {
  auto handle = Napi::External<Destinations>::New(env, new Destinations(ParseTable(env, table, count, family)),
                                                  [](Napi::Env, Destinations* d) { delete d; });
  napi_type_tag_object(env, handle, &kTableTag);
  return handle;
}

SenderArgs ReadSenderArgs(Napi::Object options) {
  Napi::Env env = options.Env();
  SenderArgs args;
  Napi::Value fd = options.Get("fd");
  if (fd.IsNumber()) {
    args.socket.adopt = fd.As<Napi::Number>().Int32Value();
  } else {
    ByteView packed = ReadBytes(options.Get("bind"), "bind");
    std::vector<Destination> local;
    if (packed.length < kMemberBytes || !ParseDestinations(packed.data, 1, packed.data[0] == 4 ? AF_INET : AF_INET6, local)) {
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
  args.inlineBelow = args.threads ? Uint(options.Get("inlineBelow"), "inlineBelow") : 0;
  // One more socket on the port for the calls sent inline (make_engine.cc).
  args.socket.shared = args.threads > 1 || args.inlineBelow > 0;
  args.ring.registerBuffers = options.Get("registerBuffers").ToBoolean();
  args.ring.deferTaskrun = options.Get("deferTaskrun").ToBoolean();
  return args;
}

namespace {

std::vector<double> ReadIds(Napi::Value value, uint32_t count) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status status = napi_get_typedarray_info(value.Env(), value, &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok || type != napi_float64_array) ThrowTypeError(value.Env(), "ids must be a Float64Array");
  if (length < count) ThrowRangeError(value.Env(), "ids is too short");
  const double* ids = static_cast<const double*>(data);
  return std::vector<double>(ids, ids + count);
}

}  // namespace

RelayArgs ReadRelayArgs(Napi::Object options) {
  Napi::Env env = options.Env();
  RelayArgs args;
  args.sender = ReadSenderArgs(options);
  args.sender.socket.receives = true;
  args.sender.socket.shared = false;  // one socket for every thread (make_engine.cc)
  args.allow = ReadBytes(options.Get("allow"), "allow");
  args.allowCount = Uint(options.Get("allowCount"), "allowCount");
  args.allowAny = options.Get("allowAny").ToBoolean();
  args.table = ReadBytes(options.Get("table"), "table");
  args.count = Uint(options.Get("count"), "count");
  args.ids = ReadIds(options.Get("ids"), args.count);
  args.zeroCopy = int(Uint(options.Get("zeroCopy"), "zeroCopy"));
  args.zeroCopyMinBytes = Uint(options.Get("zeroCopyMinBytes"), "zeroCopyMinBytes");
  args.buffers = Uint(options.Get("buffers"), "buffers");
  args.bufferSize = Uint(options.Get("bufferSize"), "bufferSize");
  args.maxDatagram = Uint(options.Get("maxDatagram"), "maxDatagram");
  if (uint64_t(args.allowCount) * kMemberBytes > args.allow.length || uint64_t(args.count) * kMemberBytes > args.table.length) {
    ThrowRangeError(env, "allow or table is too short");
  }
  if (args.buffers < 1 || args.buffers > kMaxRelayBuffers || args.bufferSize < 1 || args.bufferSize > kMaxRelayBufferSize) {
    ThrowRangeError(env, "buffers or bufferSize out of range");
  }
  return args;
}

}  // namespace sendgroup

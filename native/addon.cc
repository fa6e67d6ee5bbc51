// Registers the addon's exports; each lives in its own file pair.
#include <napi.h>

#include "limits.h"
#include "probe.h"
#include "relay.h"
#include "sender.h"

namespace {

Napi::Object Limits(Napi::Env env) {
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxQueueDepth", sendgroup::kMaxQueueDepth);
  limits.Set("maxSlots", sendgroup::kMaxSlots);
  limits.Set("maxThreads", sendgroup::kMaxThreads);
  limits.Set("maxRelayBuffers", sendgroup::kMaxRelayBuffers);
  limits.Set("maxRelayBufferSize", sendgroup::kMaxRelayBufferSize);
  limits.Set("maxSendBytes", double(sendgroup::kMaxSendBytes));
  limits.Set("mailboxRecords", sendgroup::kMailboxRecords);
  limits.Set("recordDoubles", sendgroup::kRecordDoubles);
  limits.Set("callAt", sendgroup::kCallAt);
  limits.Set("callFields", uint32_t(sendgroup::kCallFields));
  return limits;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSender", sendgroup::Sender::Define(env));
  exports.Set("NativeRelay", sendgroup::Relay::Define(env));
  exports.Set("probe", Napi::Function::New(env, sendgroup::Probe, "probe"));
  exports.Set("limits", Limits(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(sendgroup, Init)

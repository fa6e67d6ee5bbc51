// Registers the addon's exports; each lives in its own file pair.
#include <napi.h>

#include "probe.h"
#include "sender.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSender", sendgroup::Sender::Define(env));
  exports.Set("probe", Napi::Function::New(env, sendgroup::Probe, "probe"));
  return exports;
}

}  // namespace

NODE_API_MODULE(sendgroup, Init)

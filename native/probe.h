// probe(): what this kernel and process allow, found by trying each thing
// on a throwaway ring and socket, never from the kernel version.
#pragma once

#include <napi.h>

namespace sendgroup {

struct RingFeatures;

// Errnos cross to lib/ positive, as C has them; lib/errors.ts makes Node's
// negative errno and code from them, once.
Napi::Value Probe(const Napi::CallbackInfo& info);
// What a ring could set up, as probe() and Sender.features show it.
Napi::Object RingFeaturesObject(Napi::Env env, const RingFeatures& f);

}  // namespace sendgroup

// probe(): what this kernel and process allow, found by trying each thing
// on a throwaway ring and socket, never from the kernel version.
#pragma once

#include <napi.h>

namespace sendgroup {

Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace sendgroup

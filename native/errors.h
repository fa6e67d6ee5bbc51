// Errors thrown across the addon boundary. lib/ validates every argument
// first; these are the last line of defence and the carriers of syscall
// failures (errno and syscall; lib/errors.ts maps errno to a code).
#pragma once

#include <napi.h>

#include <string>

namespace sendgroup {

[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);
// A TypeError with code ERR_INVALID_ARG_VALUE: the right type, an unusable value.
[[noreturn]] void ThrowValueError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowSyscallError(Napi::Env env, const char* syscall, int err);

}  // namespace sendgroup

#include "errors.h"

#include <cstring>

namespace sendgroup {

namespace {

// Codes match lib/errors.ts's argument errors, so a check that only the
// native side caught still looks like every other argument error.
[[noreturn]] void ThrowWithCode(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  throw error;
}

}  // namespace

void ThrowTypeError(Napi::Env env, const std::string& message) {
  ThrowWithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

void ThrowValueError(Napi::Env env, const std::string& message) {
  ThrowWithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_VALUE");
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  ThrowWithCode(Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

void ThrowSyscallError(Napi::Env env, const char* syscall, int err) {
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + " failed: " + std::strerror(err));
  // Positive, as C has it: lib/errors.ts makes Node's shape from it, once.
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  throw error;
}

}  // namespace sendgroup

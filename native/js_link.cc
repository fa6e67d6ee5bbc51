#include "js_link.h"

namespace sendgroup {

void JsLink::Attach(const Napi::CallbackInfo& info, const char* resourceName) {
  // Defined, not assigned: an assignment would run a 'notify' setter the
  // object inherits (a polluted Object.prototype), user code handed this
  // half-built object, whose methods are not safe before the constructor ends.
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value("notify", info[1], napi_default));
  notify_ = Napi::Weak(info[1].As<Napi::Function>());
  mailbox_ = Napi::Persistent(info[2].As<Napi::Float64Array>());
  mailboxData_ = info[2].As<Napi::Float64Array>().Data();
  attachments_ = Napi::Persistent(info[3].As<Napi::Array>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(info.Env(), resourceName);
}

Napi::Value JsLink::Write(Napi::Env env, Outbox& outbox) {
  return Napi::Number::New(env, outbox.Write(env, mailboxData_, attachments_.Value()));
}

void JsLink::Call(Napi::Env env, Napi::Object self) {
  try {
    notify_.MakeCallback(self, {}, *asyncContext_);
  } catch (const Napi::Error& error) {
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace sendgroup

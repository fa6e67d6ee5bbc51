// How a Sender's or a Relay's results reach JavaScript: the outbox's records
// written into the mailbox JavaScript shares with us (a Float64Array and an
// array for what numbers cannot carry), and its notify function called from
// the event loop when records wait.
#pragma once

#include <napi.h>

#include <memory>

#include "outbox.h"

namespace sendgroup {

class JsLink {
 public:
  // From the constructor's (options, notify, mailbox, attachments). notify
  // closes over the JavaScript object that holds `self`: a strong reference
  // from here would root that cycle forever, so it lives as a property of
  // self and is held weakly here.
  void Attach(const Napi::CallbackInfo& info, const char* resourceName);
  // The mailbox's numbers (a call's arguments are read from it too).
  double* Mailbox() const { return mailboxData_; }
  // Writes the outbox's records; how many there are for JavaScript to read.
  Napi::Value Write(Napi::Env env, Outbox& outbox);
  // Calls notify on self; MakeCallback runs the microtasks (promise
  // reactions) afterwards. Nothing in JavaScript is below us to catch what
  // it throws: that becomes an uncaught exception.
  void Call(Napi::Env env, Napi::Object self);

 private:
  Napi::FunctionReference notify_;
  Napi::Reference<Napi::Float64Array> mailbox_;
  double* mailboxData_ = nullptr;
  Napi::Reference<Napi::Array> attachments_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace sendgroup

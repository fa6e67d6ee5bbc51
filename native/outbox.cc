#include "outbox.h"

#include "errors.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace sendgroup {

// A part may be noted as progressed and then record nothing (threads: an
// abort that found nothing queued). No record then: JavaScript would read
// whatever attachment an earlier record left at its index.
void Outbox::Progress(Batch& batch) {
  if (batch.progress.empty()) return;
  Record r(RecordKind::kProgress, batch.tx.token);
  r.ints = std::move(batch.progress);
  batch.progress.clear();
  records_.push_back(std::move(r));
}

void Outbox::Done(Batch& batch) {
  Record r(RecordKind::kDone, batch.tx.token);
  r.numbers[0] = batch.sent;
  r.numbers[1] = batch.failed;
  r.numbers[2] = batch.bytes;
  r.numbers[3] = double(batch.ZeroCopyOutcome());
  batch.SortErrors();
  r.ints = std::move(batch.errors);
  records_.push_back(std::move(r));
}

void Outbox::Unreachable(const struct Unreachable& u) {
  Record r(RecordKind::kUnreachable);
  char text[INET6_ADDRSTRLEN] = "";
  std::string zone;
  uint16_t portBe;
  if (u.destination.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(u.destination);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    portBe = v4.sin_port;
    r.numbers[0] = 4;
  } else {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(u.destination);
    // A dual-stack socket names IPv4 members v4-mapped; the user wrote IPv4.
    bool mapped = IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr);
    inet_ntop(mapped ? AF_INET : AF_INET6, mapped ? &v6.sin6_addr.s6_addr[12] : v6.sin6_addr.s6_addr, text,
              sizeof(text));
    portBe = v6.sin6_port;
    r.numbers[0] = mapped ? 4 : 6;
    // A link-local member's zone, as Group lists it ('fe80::1%2'): the same
    // address on two links is two members.
    if (!mapped && v6.sin6_scope_id) zone = "%" + std::to_string(v6.sin6_scope_id);
  }
  r.numbers[1] = ntohs(portBe);
  r.numbers[2] = u.err;
  r.text = text + zone;
  records_.push_back(std::move(r));
}

void Outbox::PushClosed() { records_.emplace_back(RecordKind::kClosed); }

void CheckConstructorArgs(const Napi::CallbackInfo& info, const char* signature) {
  if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[2].As<Napi::Float64Array>().ElementLength() < kMailboxDoubles || !info[3].IsArray()) {
    ThrowTypeError(info.Env(), signature);
  }
}

uint32_t Outbox::Write(Napi::Env env, double* mailbox, Napi::Array attachments) {
  uint32_t n = 0;
  for (; n < kMailboxRecords && !records_.empty(); ++n) {
    // Taken off first: nothing of records_ is held while N-API runs.
    Record r = std::move(records_.front());
    records_.pop_front();
    double* at = mailbox + size_t(n) * kRecordDoubles;
    at[0] = double(r.kind);
    at[1] = r.token;
    std::memcpy(at + 2, r.numbers, sizeof(r.numbers));
    if (!r.ints.empty()) {
      auto list = Napi::Int32Array::New(env, r.ints.size());
      std::memcpy(list.Data(), r.ints.data(), r.ints.size() * sizeof(int32_t));
      attachments.Set(n, list);
    } else if (!r.text.empty()) {
      attachments.Set(n, Napi::String::New(env, r.text));
    }
  }
  return n;
}

}  // namespace sendgroup

// Results on their way to JavaScript. They are collected from the backend
// first (batches are freed right then), and handed over later through one
// path: the mailbox, a Float64Array lib/ reads after every call into the
// addon and after every notification from the loop. No native pointer is
// held while JavaScript runs, and JavaScript may call any method meanwhile.
#pragma once

#include <napi.h>

#include <deque>
#include <string>
#include <vector>

#include "backend.h"

namespace sendgroup {

// Mailbox layout, lib/native.ts mirrors it: kRecordDoubles per record,
// [kind, token, a, b, c, d], and an attachment per record where the kind
// has one (same index in the attachments array).
enum class RecordKind : uint8_t {
  kDone = 1,         // a = sent, b = failed, c = bytes, d = ZeroCopy; attachment: Int32Array (member, errno) pairs or none
  kProgress = 2,     // attachment: Int32Array (member, bytes, errno) triples
  kUnreachable = 3,  // a = 4|6, b = port, c = errno; attachment: address text
  kClosed = 4,
};
constexpr uint32_t kRecordDoubles = 6;
constexpr uint32_t kMailboxRecords = 64;
// After the records, a call's numbers going the other way: lib/ writes them
// just before send() (typed-array reads cost far less than N-API ones).
enum CallField : uint32_t { kCallToken, kCallCount, kCallZeroCopy, kCallSegmentSize, kCallStream, kCallFields };
constexpr uint32_t kCallAt = kMailboxRecords * kRecordDoubles;
constexpr uint32_t kMailboxDoubles = kCallAt + kCallFields;

struct Record {
  explicit Record(RecordKind k, uint32_t t = 0) : kind(k), token(t) {}
  RecordKind kind;
  uint32_t token;
  double numbers[4] = {};
  std::vector<int32_t> ints;
  std::string text;
};

// A constructor's (options, notify, mailbox, attachments), checked as memory
// safety needs; throws TypeError naming the signature.
void CheckConstructorArgs(const Napi::CallbackInfo& info, const char* signature);

class Outbox : public ResultSink {
 public:
  void Progress(Batch& batch) override;
  void Done(Batch& batch) override;
  void Unreachable(const struct Unreachable& u) override;
  void PushClosed();
  bool Empty() const { return records_.empty(); }
  // Writes up to kMailboxRecords records; returns how many.
  uint32_t Write(Napi::Env env, double* mailbox, Napi::Array attachments);

 private:
  std::deque<Record> records_;
};

}  // namespace sendgroup

#include "batch.h"

#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "compat.h"

namespace sendgroup {

namespace {

// Copies member by member; an empty view may have no data pointer at all,
// and memcpy from null is undefined even for zero bytes.
void CopyParts(uint8_t* dest, const Extras& extras, const std::vector<const uint8_t*>& sources) {
  for (size_t i = 0; i < sources.size(); ++i) {
    if (extras.Length(i)) std::memcpy(dest + extras.starts[i], sources[i], extras.Length(i));
  }
}

}  // namespace

void Batch::Place(uint8_t* dest, const Sources& sources) {
  if (tx.payloadLength) std::memcpy(dest, sources.payload, tx.payloadLength);
  uint8_t* prefix = dest + tx.payloadLength;
  uint8_t* suffix = prefix + tx.prefix.Total();
  CopyParts(prefix, tx.prefix, sources.prefix);
  CopyParts(suffix, tx.suffix, sources.suffix);
  payload_ = dest;
  prefixBytes_ = prefix;
  suffixBytes_ = suffix;
  placed_ = true;
  WriteSegmentCmsg();
}

SharedCopy::SharedCopy(SlotPool* p, size_t length) : pool(p) {
  if (pool && length <= pool->SlotSize()) slot = pool->Acquire();
  if (slot >= 0) {
    data = pool->Data(slot);
  } else {
    heap.resize(std::max<size_t>(length, 1));
    data = heap.data();
  }
}

SharedCopy::SharedCopy(uint8_t* bytes, int s, std::function<void()> d) : data(bytes), slot(s), done(std::move(d)) {}

SharedCopy::~SharedCopy() {
  if (done) done();
  else if (slot >= 0) pool->Release(slot);
}

void Batch::PlaceShared(std::shared_ptr<SharedCopy> copy) {
  payload_ = copy->data;
  prefixBytes_ = payload_ + tx.payloadLength;
  suffixBytes_ = prefixBytes_ + tx.prefix.Total();
  placed_ = true;
  shared_ = std::move(copy);
  WriteSegmentCmsg();
}

void Batch::PlaceOnHeap(const Sources& sources) {
  heapCopy_.resize(std::max<size_t>(tx.CopyLength(), 1));
  Place(heapCopy_.data(), sources);
}

void Batch::Borrow(const Sources& sources) {
  payload_ = sources.payload;
  prefixBytes_ = sources.prefix.empty() ? nullptr : sources.prefix[0];
  suffixBytes_ = sources.suffix.empty() ? nullptr : sources.suffix[0];
  WriteSegmentCmsg();
}

void Batch::WriteSegmentCmsg() {
  if (!tx.segmentSize) return;
  cmsghdr* cm = reinterpret_cast<cmsghdr*>(control_);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  std::memcpy(CMSG_DATA(cm), &tx.segmentSize, sizeof(uint16_t));
}

void Batch::FillMessage(uint32_t i, msghdr& m, iovec* iov) {
  size_t n = 0;
  // Empty parts are left out: a zero-length segment of a registered buffer
  // fails with EFAULT.
  // The kernel only reads these bytes.
  auto part = [](const uint8_t* at, size_t length) { return iovec{const_cast<uint8_t*>(at), length}; };
  if (tx.prefix.Length(i)) iov[n++] = part(prefixBytes_ + tx.prefix.starts[i], tx.prefix.Length(i));
  if (tx.payloadLength) iov[n++] = part(payload_, tx.payloadLength);
  if (tx.suffix.Length(i)) iov[n++] = part(suffixBytes_ + tx.suffix.starts[i], tx.suffix.Length(i));
  m = {};
  m.msg_name = const_cast<sockaddr*>(&tx.To(i).sa);
  m.msg_namelen = tx.To(i).len;
  m.msg_iov = iov;
  m.msg_iovlen = n;
  if (tx.segmentSize) {
    // One cmsg shared by every member: the kernel only reads it.
    m.msg_control = control_;
    m.msg_controllen = sizeof(control_);
  }
}

msghdr* Batch::Message(uint32_t i) {
  if (msgs_.empty()) {
    msgs_.resize(tx.Count());
    iovs_.resize(size_t(tx.Count()) * kMaxIov);
  }
  FillMessage(i, msgs_[i], &iovs_[size_t(i) * kMaxIov]);
  return &msgs_[i];
}

void Batch::PopQueued() {
  if (retries_.empty()) ++next_;
  else retries_.pop_back();
}

void Batch::Record(uint32_t i, int result) {
  ++done_;
  if (result >= 0) {
    ++sent;
    bytes += result;
  } else {
    ++failed;
    errors.push_back(int32_t(i));
    errors.push_back(-result);
  }
  if (tx.stream) progress.insert(progress.end(), {int32_t(i), result >= 0 ? result : 0, result >= 0 ? 0 : -result});
}

void Batch::RecordSent(uint32_t first, const mmsghdr* msgs, unsigned count) {
  if (tx.stream) {  // each with its progress
    for (unsigned j = 0; j < count; ++j) {
      PopQueued();
      Record(first + j, int(msgs[j].msg_len));
    }
    return;
  }
  for (unsigned j = 0; j < count; ++j) {
    PopQueued();
    bytes += msgs[j].msg_len;
  }
  done_ += count;
  sent += count;
}

void Batch::CancelQueued() {
  aborted_ = true;
  while (HasQueued()) {
    uint32_t i = PeekQueued();
    PopQueued();
    Record(i, -ECANCELED);
  }
}

ZeroCopy Batch::ZeroCopyOutcome() const {
  if (!tx.zeroCopy) return ZeroCopy::kOff;
  if (zcCopied) return ZeroCopy::kCopied;
  // A notification without REPORT_USAGE says nothing, and a failed send may
  // post one too: zero-copied means some member's send was accepted.
  return zcAccepted ? ZeroCopy::kZeroCopied : ZeroCopy::kOff;
}

void Batch::MergePart(const Batch& part) {
  done_ += part.done_;
  sent += part.sent;
  failed += part.failed;
  bytes += part.bytes;
  zcCopied = zcCopied || part.zcCopied;
  zcAccepted = zcAccepted || part.zcAccepted;
  for (size_t i = 0; i < part.errors.size(); i += 2) {
    errors.insert(errors.end(), {int32_t(part.tx.WholeIndex(part.errors[i])), part.errors[i + 1]});
  }
}

void Batch::SortErrors() {
  bool sorted = true;
  for (size_t i = 2; i < errors.size() && sorted; i += 2) sorted = errors[i - 2] < errors[i];
  if (sorted) return;
  std::vector<std::pair<int32_t, int32_t>> pairs(errors.size() / 2);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i] = {errors[2 * i], errors[2 * i + 1]};
  std::sort(pairs.begin(), pairs.end());
  for (size_t i = 0; i < pairs.size(); ++i) {
    errors[2 * i] = pairs[i].first;
    errors[2 * i + 1] = pairs[i].second;
  }
}

}  // namespace sendgroup

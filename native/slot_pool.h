// Payload slots: one mapping cut into slots of the largest UDP send, which
// rings register as fixed buffers. One pool may be registered in several
// rings (one per sending thread); slots are taken and given back by one
// thread only.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sendgroup {

constexpr unsigned kDefaultSlots = 32;
constexpr size_t kSlotSize = 1u << 16;  // the largest UDP send, rounded up

class SlotPool {
 public:
  explicit SlotPool(unsigned count, size_t slotSize = kSlotSize);
  ~SlotPool();
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // -1 when all are taken (the caller then uses heap memory).
  int Acquire();
  void Release(int slot) { free_.push_back(slot); }
  bool Free() const { return !free_.empty(); }
  uint8_t* Data(int slot) const { return base_ + size_t(slot) * slotSize_; }
  size_t SlotSize() const { return slotSize_; }
  unsigned Count() const { return count_; }
  // What a ring registers; empty when the mapping was refused.
  std::vector<iovec> Iovecs() const;
  int MapErrno() const { return mapErrno_; }

 private:
  uint8_t* base_ = nullptr;
  size_t slotSize_;
  unsigned count_;
  int mapErrno_ = 0;
  std::vector<int> free_;
};

}  // namespace sendgroup

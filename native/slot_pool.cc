#include "slot_pool.h"

#include <sys/mman.h>

#include <cerrno>

namespace sendgroup {

SlotPool::SlotPool(unsigned count, size_t slotSize) : slotSize_(slotSize), count_(count) {
  void* mem = mmap(nullptr, size_t(count) * slotSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    mapErrno_ = errno;
    count_ = 0;
    return;
  }
  base_ = static_cast<uint8_t*>(mem);
  for (int i = int(count) - 1; i >= 0; --i) free_.push_back(i);
}

SlotPool::~SlotPool() {
  // Pages a zero-copy send still holds stay pinned by the kernel; unmapping
  // only drops our view of them.
  if (base_) munmap(base_, size_t(count_) * slotSize_);
}

int SlotPool::Acquire() {
  if (free_.empty()) return -1;
  int slot = free_.back();
  free_.pop_back();
  return slot;
}

std::vector<iovec> SlotPool::Iovecs() const {
  std::vector<iovec> iovs(count_);
  for (unsigned i = 0; i < count_; ++i) iovs[i] = {Data(int(i)), slotSize_};
  return iovs;
}

}  // namespace sendgroup

// How one member of a call becomes one SQE: the opcode and buffers that fit
// the call's shape and what the ring offers.
#pragma once

#include "batch.h"
#include "ring.h"

namespace sendgroup {

struct SqeChoice {
  int fd;
  const RingFeatures& features;
  int slot;  // the call's registered slot, or -1
  bool zeroCopy;
};

void PrepMemberSend(io_uring_sqe* sqe, Batch& batch, uint32_t i, const SqeChoice& choice);

}  // namespace sendgroup

#include "receiver.h"

#include <cstring>

namespace sendgroup {

void Receiver::NoteDrops(const cmsghdr* cm) {
  if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL) return;
  uint32_t count;
  std::memcpy(&count, CMSG_DATA(cm), sizeof(count));
  // The socket's count since it was made: the latest is the total.
  drops_ = count;
}

}  // namespace sendgroup

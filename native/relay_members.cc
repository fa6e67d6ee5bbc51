#include "relay_members.h"

#include <algorithm>
#include <atomic>

namespace sendgroup {

RelayMembers::RelayMembers(Table members, std::vector<double> ids)
    : table_(std::make_shared<Table>(std::move(members))), ids_(std::move(ids)) {}

void RelayMembers::Add(const Destination& member, double id) {
  added_.push_back(member);
  addedIds_.push_back(id);
  ApplyWhenMany();
}

void RelayMembers::Remove(double id) {
  removed_.push_back(id);
  ApplyWhenMany();
}

// A relay no datagram reaches would keep every edit: applied once they
// outnumber the members (one pass per that many edits).
void RelayMembers::ApplyWhenMany() {
  if (added_.size() + removed_.size() > table_->size() + kEditsKept) Current();
}

// Swapped with empty ones: clear() would keep a large group's capacity.
void RelayMembers::Clear() {
  table_ = std::make_shared<Table>();
  std::vector<double>().swap(ids_);
  Table().swap(added_);
  std::vector<double>().swap(addedIds_);
  std::vector<double>().swap(removed_);
}

const std::shared_ptr<RelayMembers::Table>& RelayMembers::Current() {
  if (!removed_.empty()) DropRemoved();
  else if (!added_.empty()) AppendAdded();
  return table_;
}

// Only additions: the new table takes the entries of the old one where no
// datagram in flight still sends from it.
void RelayMembers::AppendAdded() {
  if (table_.use_count() > 1) {
    table_ = std::make_shared<Table>(*table_);
  } else {
    // The last datagram that used the table let go of it on another thread
    // (a release); this fence orders its reads of the table before our
    // writes, which the relaxed use_count() alone would not.
    std::atomic_thread_fence(std::memory_order_acquire);
    table_ = std::make_shared<Table>(std::move(*table_));
  }
  table_->insert(table_->end(), added_.begin(), added_.end());
  ids_.insert(ids_.end(), addedIds_.begin(), addedIds_.end());
  added_.clear();
  addedIds_.clear();
}

// A new table of the members kept, the added ones after them: the ids of
// both, in that order, ascend, so one walk over the sorted removals finds
// every member to drop.
void RelayMembers::DropRemoved() {
  std::sort(removed_.begin(), removed_.end());
  auto kept = std::make_shared<Table>();
  std::vector<double> keptIds;
  kept->reserve(table_->size() + added_.size());
  keptIds.reserve(table_->size() + added_.size());
  size_t next = 0;  // the first removal not passed yet
  auto keep = [&](const Destination& member, double id) {
    while (next < removed_.size() && removed_[next] < id) ++next;
    if (next < removed_.size() && removed_[next] == id) return;
    kept->push_back(member);
    keptIds.push_back(id);
  };
  for (size_t i = 0; i < table_->size(); ++i) keep((*table_)[i], ids_[i]);
  for (size_t i = 0; i < added_.size(); ++i) keep(added_[i], addedIds_[i]);
  table_ = std::move(kept);
  ids_ = std::move(keptIds);
  added_.clear();
  addedIds_.clear();
  removed_.clear();
}

}  // namespace sendgroup

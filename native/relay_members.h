// A relay's members as its sends read them, and the group's edits since
// the last datagram: the next datagram takes the table with every edit
// before it applied, in one pass however many there were, so dropping
// thousands of members (a network partition's 'unreachable' events) costs
// one pass over the table, not one per member. An edited table is always a
// new one: backends keep messages filled per table, known by its identity
// (Backend::FilledFor), so a table edited in place would be sent to from
// stale messages.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "member_table.h"

namespace sendgroup {

class RelayMembers {
 public:
  using Table = std::vector<Destination>;

  RelayMembers() : table_(std::make_shared<Table>()) {}
  // ids: the Group's ids of the members, ascending (its send order).
  RelayMembers(Table members, std::vector<double> ids);

  // Not locked: the relay calls each under its mutex.
  void Add(const Destination& member, double id);
  // id is a member's that was added and not removed yet (the Group says so).
  void Remove(double id);
  void Clear();
  // Every removal is of a member there (the Group notifies each once);
  // clamped all the same, where a broken promise would underflow.
  size_t Size() const {
    size_t all = table_->size() + added_.size();
    return removed_.size() < all ? all - removed_.size() : 0;
  }
  // The members with every edit so far; a datagram's sends hold it.
  const std::shared_ptr<Table>& Current();

 private:
  static constexpr size_t kEditsKept = 1024;  // beyond the table's size
  void ApplyWhenMany();
  void AppendAdded();
  void DropRemoved();

  std::shared_ptr<Table> table_;
  std::vector<double> ids_;  // table_'s, ascending: ids only grow and order is kept
  Table added_;
  std::vector<double> addedIds_;
  std::vector<double> removed_;
};

}  // namespace sendgroup

#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "messages/types.hpp"

namespace tasker {

/// What one round of a batch's inserts came to, decided from what the
/// database said (pure: `database::apply` runs the statements around it).
struct idempotency_round {
  /// One per group of the round, in order. Settled unless `again` says so.
  std::vector<insert_result> results;
  /// Ids to delete before the commit: what a conflicting group inserted
  /// (all or none), and what a group going round again inserted.
  std::unordered_set<std::string> undo;
  /// Groups that matched, by idempotency key, a task withdrawn in this round:
  /// that key is free again, so the group's own tasks go round again.
  std::vector<bool> again;
};

/// Resolves one round of submission groups. `inserted` holds the ids the
/// round's inserts stored; `by_key` what each idempotency key the inserts
/// skipped holds. A task is new when inserted, the earlier task when its key
/// holds one with the same request hash, and a conflict otherwise. A group
/// is `inserted` (new tasks, perhaps with earlier ones), `existing` (every
/// task earlier) or `conflict` (nothing: what it inserted is withdrawn).
idempotency_round
resolve_idempotency(const std::vector<const std::vector<task_record>*>& groups,
                    const std::unordered_set<std::string>& inserted,
                    const std::unordered_map<std::string, task_record>& by_key);

} // namespace tasker

#include "messages/types.hpp"

#include "messages/status.hpp"

#include <tuple>

namespace tasker {

const char* to_string(task_status x) {
  switch (x) {
    case task_status::pending:
      return "PENDING";
    case task_status::processing:
      return "PROCESSING";
    case task_status::completed:
      return "COMPLETED";
    case task_status::failed:
      return "FAILED";
    case task_status::cancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

bool from_string(const std::string& str, task_status& x) {
  for (auto s : {task_status::pending, task_status::processing,
                 task_status::completed, task_status::failed,
                 task_status::cancelled}) {
    if (str == to_string(s)) {
      x = s;
      return true;
    }
  }
  return false;
}

namespace {

auto tie(const task_record& x) {
  return std::tie(x.id, x.type, x.params, x.status, x.result, x.error,
                  x.priority, x.attempts, x.max_attempts, x.timeout_ms,
                  x.idempotency_key, x.request_hash, x.worker_id, x.created_at,
                  x.updated_at, x.scheduled_at, x.started_at, x.completed_at);
}

} // namespace

bool operator==(const task_record& x, const task_record& y) {
  return tie(x) == tie(y);
}

bool operator==(const submit_reply& x, const submit_reply& y) {
  return x.tasks == y.tasks && x.existing == y.existing;
}

bool operator==(const task_assignment& x, const task_assignment& y) {
  return std::tie(x.id, x.type, x.params, x.attempt, x.timeout_ms, x.priority,
                  x.scheduled_at)
         == std::tie(y.id, y.type, y.params, y.attempt, y.timeout_ms,
                     y.priority, y.scheduled_at);
}

bool operator==(const task_outcome& x, const task_outcome& y) {
  return std::tie(x.id, x.attempt, x.ok, x.result, x.error, x.retryable,
                  x.worker_id, x.started_at, x.finished_at)
         == std::tie(y.id, y.attempt, y.ok, y.result, y.error, y.retryable,
                     y.worker_id, y.started_at, y.finished_at);
}

bool operator==(const worker_view& x, const worker_view& y) {
  auto tie = [](const worker_view& v) {
    return std::tie(v.id, v.name, v.address, v.status, v.task_types, v.slots,
                    v.busy, v.completed, v.failed, v.joined_at, v.last_seen,
                    v.protocol_version);
  };
  return tie(x) == tie(y);
}

bool operator==(const node_info& x, const node_info& y) {
  return std::tie(x.name, x.address, x.task_types, x.slots, x.protocol_version)
         == std::tie(y.name, y.address, y.task_types, y.slots,
                     y.protocol_version);
}

bool operator==(const list_query& x, const list_query& y) {
  return std::tie(x.status, x.type, x.limit, x.after_created_at, x.after_id)
         == std::tie(y.status, y.type, y.limit, y.after_created_at, y.after_id);
}

bool operator==(const task_page& x, const task_page& y) {
  return x.tasks == y.tasks && x.more == y.more;
}

} // namespace tasker

namespace tasker {

bool operator==(const write_batch& x, const write_batch& y) {
  return x.insert_groups == y.insert_groups && x.updates == y.updates
         && x.workers == y.workers;
}

bool operator==(const insert_result& x, const insert_result& y) {
  return x.status == y.status && x.tasks == y.tasks
         && x.conflict_key == y.conflict_key && x.error == y.error;
}

bool operator==(const batch_outcome& x, const batch_outcome& y) {
  return x.groups == y.groups;
}

} // namespace tasker

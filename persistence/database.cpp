#include "persistence/database.hpp"

#include <algorithm>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/log.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/leadership.hpp"
#include "persistence/migrations.hpp"
#include "persistence/sql.hpp"
#include "persistence/statements.hpp"

namespace tasker {

namespace {

millis time_of(const pqxx::field& f) {
  return f.is_null() ? 0 : f.as<int64_t>();
}

std::string text_of(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.as<std::string>();
}

/// The position before every id (a page's "after" when none is given).
std::string after_or_start(const std::string& id) {
  return id.empty() ? "00000000-0000-0000-0000-000000000000" : id;
}

/// A row of `statements::task_columns()`.
task_record read_record(const pqxx::row& row) {
  task_record rec;
  rec.id = row[0].as<std::string>();
  rec.type = row[1].as<std::string>();
  rec.params = row[2].as<std::string>();
  from_string(row[3].as<std::string>(), rec.status);
  rec.result = text_of(row[4]);
  rec.error = text_of(row[5]);
  rec.priority = row[6].as<int32_t>();
  rec.attempts = row[7].as<int32_t>();
  rec.max_attempts = row[8].as<int32_t>();
  rec.timeout_ms = row[9].as<int64_t>();
  rec.idempotency_key = text_of(row[10]);
  rec.request_hash = text_of(row[11]);
  rec.worker_id = text_of(row[12]);
  rec.created_at = time_of(row[13]);
  rec.updated_at = time_of(row[14]);
  rec.scheduled_at = time_of(row[15]);
  rec.started_at = time_of(row[16]);
  rec.completed_at = time_of(row[17]);
  rec.seq = row[18].as<int32_t>();
  rec.callback_url = text_of(row[19]);
  return rec;
}

/// A row of `statements::event_row_columns()`. The database is trusted no
/// more than a client: a status it does not know fails the read.
task_event_record read_event(const pqxx::row& row) {
  task_event_record ev;
  ev.task_id = row[0].as<std::string>();
  ev.seq = row[1].as<int32_t>();
  ev.type = row[2].as<std::string>();
  if (!from_string(row[3].as<std::string>(), ev.status))
    throw std::runtime_error{"task_events holds an unknown status: "
                             + row[3].as<std::string>()};
  ev.attempt = row[4].as<int32_t>();
  ev.worker_id = text_of(row[5]);
  ev.error = text_of(row[6]);
  ev.at = time_of(row[7]);
  ev.scheduled_at = time_of(row[8]);
  ev.started_at = time_of(row[9]);
  ev.tx = row[10].as<uint64_t>();
  return ev;
}

/// Names of the prepared statements (see `database::conn`).
namespace prepared {
constexpr const char* insert_tasks = "insert_tasks";
constexpr const char* insert_keyed_tasks = "insert_keyed_tasks";
constexpr const char* update_tasks = "update_tasks";
constexpr const char* select_task = "select_task";
} // namespace prepared

} // namespace

std::string with_param(const std::string& url, const std::string& key,
                       const std::string& value) {
  if (url.find(key + "=") != std::string::npos)
    return url;
  bool uri = url.rfind("postgres://", 0) == 0
             || url.rfind("postgresql://", 0) == 0;
  if (!uri)
    return url + (url.empty() ? "" : " ") + key + "=" + value;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "="
         + value;
}

std::string bounded_url(const std::string& url) {
  return with_param(with_param(url, "connect_timeout", "5"),
                    "tcp_user_timeout", "5000");
}

/// Wraps the libpqxx connection so the header needs no libpqxx include.
struct database::connection : pqxx::connection {
  using pqxx::connection::connection;
};

database::database(std::string url) : url_(bounded_url(url)) {}

database::~database() = default;

void database::reset() {
  conn_.reset();
}

database::connection& database::conn() {
  if (conn_ && conn_->is_open())
    return *conn_;
  conn_ = std::make_unique<connection>(url_);
  // A broken connection is replaced by a new one (reset, then connect), never
  // reactivated behind the caller's back in the middle of a transaction.
  conn_->inhibit_reactivation(true);
  // Every statement here finds its rows by an index, joining a handful of
  // records (jsonb_to_recordset) to the table by key. Until the first ANALYZE
  // of a young table, the planner believes the table tiny and hashes all of it
  // for each batch, which grows the cost of a batch with the table: nested
  // loops over the indexes are the plan at every size.
  conn_->set_variable("enable_hashjoin", "off");
  // The fence (migration 006): every write of the task tables on this
  // connection checks that this epoch is still the current one. A standby's
  // connections carry -1 and so can write no task at all.
  if (auto epoch = fencing_epoch(); epoch != 0) {
    conn_->set_variable("tasker.epoch", std::to_string(epoch));
    // (whatever the database's default: the fence needs it)
    conn_->set_variable("default_transaction_isolation", "'read committed'");
  }
  conn_->set_variable("enable_mergejoin", "off");
  // The statements of every batch and read, parsed and planned once per
  // connection (libpqxx prepares each at its first use).
  conn_->prepare(prepared::insert_tasks, statements::insert_tasks(false));
  conn_->prepare(prepared::insert_keyed_tasks, statements::insert_tasks(true));
  conn_->prepare(prepared::update_tasks, statements::update_tasks());
  conn_->prepare(prepared::select_task, statements::select_task());
  return *conn_;
}

int database::migrate() {
  pqxx::work tx{conn()};
  tx.exec(statements::migration_lock);
  tx.exec(statements::create_migrations_table);
  auto current = tx.exec1(statements::migrated_version)[0].as<int>();
  int applied = 0;
  for (auto& m : migrations()) {
    if (m.version <= current)
      continue;
    tx.exec(m.sql);
    tx.exec_params(statements::record_migration, m.version,
                   std::string{m.name});
    ++applied;
  }
  tx.commit();
  return applied;
}

namespace {

/// The ids of `updates` that the update statement's answer (the ids it
/// wrote) does not hold: the rows were finished, and stay as they are.
std::vector<std::string> left_out(const std::vector<task_record>& updates,
                                  const pqxx::result& written) {
  std::vector<std::string> out;
  if (written.size() == updates.size())
    return out;
  std::unordered_set<std::string> ids;
  for (auto row : written)
    ids.insert(row[0].as<std::string>());
  for (auto& rec : updates)
    if (ids.count(rec.id) == 0)
      out.push_back(rec.id);
  return out;
}

/// Whether a batch is one statement: state updates alone, or submissions
/// without idempotency keys alone. Such a batch commits by itself, without
/// the round trips of BEGIN and COMMIT.
bool one_statement(const write_batch& batch) {
  if (!batch.workers.empty())
    return false;
  if (batch.insert_groups.empty())
    return !batch.updates.empty();
  if (!batch.updates.empty())
    return false;
  for (auto& g : batch.insert_groups)
    for (auto& rec : g)
      if (!rec.idempotency_key.empty())
        return false;
  return true;
}

} // namespace

batch_outcome database::apply_one(const write_batch& batch) {
  batch_outcome out;
  std::vector<task_record> plain;
  for (auto& g : batch.insert_groups)
    plain.insert(plain.end(), g.begin(), g.end());
  // Made before the statement: a database that cannot be reached fails the
  // batch here, with nothing in doubt.
  auto& c = conn();
  pqxx::nontransaction tx{c};
  try {
    if (fault_hook)
      fault_hook("before_commit");
    if (!plain.empty())
      tx.exec_prepared(prepared::insert_tasks, records_json(plain));
    else if (!batch.updates.empty())
      out.dropped_updates = left_out(
        batch.updates,
        tx.exec_prepared(prepared::update_tasks,
                         update_rows_json(batch.updates, batch.events)));
    if (fault_hook)
      fault_hook("after_commit");
  } catch (const std::exception& e) {
    // A statement that failed on a live connection did not happen (the
    // database refused it, or could not write). One whose connection broke
    // may have committed before the break: it is in doubt.
    if (!dynamic_cast<const pqxx::in_doubt_error*>(&e)
        && !dynamic_cast<const pqxx::broken_connection*>(&e) && c.is_open())
      throw;
    reset();
    if (!plain.empty() && read_back(plain.front().id)) {
      for (auto& g : batch.insert_groups)
        out.groups.push_back(
          insert_result{insert_status::inserted, g, {}, {}});
      return out;
    }
    throw pqxx::broken_connection{
      std::string{"the statement was interrupted and did not happen: "}
      + e.what()};
  }
  for (auto& g : batch.insert_groups)
    out.groups.push_back(insert_result{insert_status::inserted, g, {}, {}});
  return out;
}

batch_outcome database::apply(const write_batch& batch) {
  if (one_statement(batch))
    return apply_one(batch);
  batch_outcome out;
  pqxx::work tx{conn()};
  // Groups still to store. A group goes round again when a task it matched
  // by idempotency key was withdrawn with a conflicting group of this batch:
  // that key is free again, so the group's own tasks must be stored.
  out.groups.resize(batch.insert_groups.size());
  std::vector<size_t> todo;
  for (size_t g = 0; g < batch.insert_groups.size(); ++g)
    todo.push_back(g);
  while (!todo.empty()) {
    std::vector<const std::vector<task_record>*> groups;
    std::vector<task_record> plain, keyed;
    for (auto g : todo) {
      groups.push_back(&batch.insert_groups[g]);
      for (auto& rec : batch.insert_groups[g])
        (rec.idempotency_key.empty() ? plain : keyed).push_back(rec);
    }
    std::unordered_set<std::string> inserted;
    inserted.reserve(plain.size() + keyed.size());
    if (!plain.empty()) {
      tx.exec_prepared(prepared::insert_tasks, records_json(plain));
      for (auto& rec : plain)
        inserted.insert(rec.id);
    }
    if (!keyed.empty())
      for (auto row : tx.exec_prepared(prepared::insert_keyed_tasks,
                                       records_json(keyed)))
        inserted.insert(row[0].as<std::string>());
    // Keyed rows that were not inserted hit an idempotency key used before
    // (or earlier in this batch): read what that key holds.
    std::unordered_map<std::string, task_record> by_key;
    if (inserted.size() < plain.size() + keyed.size()) {
      auto keys = nlohmann::json::array();
      for (auto& rec : keyed)
        if (inserted.count(rec.id) == 0)
          keys.push_back(rec.idempotency_key);
      for (auto row :
           tx.exec_params(statements::select_tasks_by_key(), keys.dump())) {
        auto rec = read_record(row);
        by_key.emplace(rec.idempotency_key, std::move(rec));
      }
    }
    auto round = resolve_idempotency(groups, inserted, by_key);
    if (!round.undo.empty())
      tx.exec_params(statements::delete_tasks,
                     nlohmann::json(round.undo).dump());
    // Each round settles at least the conflicting groups, so this ends.
    std::vector<size_t> next;
    for (size_t k = 0; k < todo.size(); ++k) {
      if (round.again[k])
        next.push_back(todo[k]);
      else
        out.groups[todo[k]] = std::move(round.results[k]);
    }
    todo = std::move(next);
  }
  if (!batch.workers.empty())
    tx.exec_params(statements::replace_workers, batch.workers);
  if (!batch.updates.empty())
    out.dropped_updates = left_out(
      batch.updates,
      tx.exec_prepared(prepared::update_tasks,
                       update_rows_json(batch.updates, batch.events)));
  // A row this batch inserted (and kept) tells whether an interrupted commit
  // happened.
  std::string probe;
  std::unordered_set<std::string> mine;
  for (auto& g : batch.insert_groups)
    for (auto& rec : g)
      mine.insert(rec.id);
  for (auto& res : out.groups)
    for (auto& rec : res.tasks)
      if (probe.empty() && mine.count(rec.id) > 0)
        probe = rec.id;
  try {
    if (fault_hook)
      fault_hook("before_commit");
    tx.commit();
    if (fault_hook)
      fault_hook("after_commit");
  } catch (const pqxx::in_doubt_error& e) {
    reset();
    if (!probe.empty() && read_back(probe))
      return out;
    throw pqxx::broken_connection{
      std::string{"the commit was interrupted and did not happen: "}
      + e.what()};
  }
  return out;
}

bool content_refused(const std::exception& e) {
  // SQLSTATE classes 22 (data exception) and 23 (integrity constraint), and
  // a value our own JSON building could not take. Everything else (a lost
  // connection, a read-only database, a full disk, a timeout, a deadlock)
  // says nothing about the batch's content.
  return dynamic_cast<const pqxx::data_exception*>(&e) != nullptr
         || dynamic_cast<const pqxx::integrity_constraint_violation*>(&e)
              != nullptr
         || dynamic_cast<const nlohmann::json::exception*>(&e) != nullptr;
}

batch_outcome database::apply_apart(const write_batch& batch) {
  // Updates (and the worker snapshot) by halves; a single refused one is
  // dropped: it can never be written, and keeping it would stop the rest.
  std::vector<std::string> dropped;
  auto updates = [this, &dropped](auto& self, write_batch b) -> void {
    if (b.updates.empty() && b.workers.empty())
      return;
    try {
      auto res = apply(b);
      dropped.insert(dropped.end(), res.dropped_updates.begin(),
                     res.dropped_updates.end());
      return;
    } catch (const std::exception& e) {
      if (!content_refused(e))
        throw;
      if (b.updates.size() + (b.workers.empty() ? 0 : 1) == 1) {
        log::error("persistence", "the database refused a write; dropped",
                   {{"task_id", b.updates.empty() ? std::string{"(workers)"}
                                                  : b.updates[0].id},
                    {"error", e.what()}});
        if (!b.updates.empty())
          dropped.push_back(b.updates[0].id);
        return;
      }
    }
    // (Each half carries every event: a half writes those of its updates.)
    if (!b.workers.empty()) {
      self(self, write_batch{{}, std::move(b.updates), {}, b.events});
      self(self, write_batch{{}, {}, std::move(b.workers), {}});
      return;
    }
    auto mid = b.updates.begin() + static_cast<std::ptrdiff_t>(b.updates.size() / 2);
    self(self, write_batch{{}, {b.updates.begin(), mid}, {}, b.events});
    self(self, write_batch{{}, {mid, b.updates.end()}, {}, b.events});
  };
  updates(updates,
          write_batch{{}, batch.updates, batch.workers, batch.events});
  batch_outcome out;
  out.dropped_updates = std::move(dropped);
  out.groups.resize(batch.insert_groups.size());
  std::string lost;
  auto groups = [&](auto& self, size_t lo, size_t hi) -> void {
    if (lo == hi)
      return;
    if (!lost.empty()) {
      for (auto k = lo; k < hi; ++k)
        out.groups[k] = insert_result{insert_status::unavailable, {}, {}, lost};
      return;
    }
    write_batch b;
    b.insert_groups.assign(batch.insert_groups.begin() + static_cast<std::ptrdiff_t>(lo),
                           batch.insert_groups.begin() + static_cast<std::ptrdiff_t>(hi));
    try {
      auto res = apply(b);
      for (auto k = lo; k < hi; ++k)
        out.groups[k] = std::move(res.groups[k - lo]);
      return;
    } catch (const std::exception& e) {
      if (!content_refused(e)) {
        lost = e.what();
        self(self, lo, hi);
        return;
      }
      if (hi - lo == 1) {
        log::warning("persistence", "the database refused a submission",
                     {{"task_id", batch.insert_groups[lo].empty()
                                    ? std::string{}
                                    : batch.insert_groups[lo][0].id},
                      {"error", e.what()}});
        out.groups[lo] = insert_result{insert_status::refused, {}, {}, e.what()};
        return;
      }
    }
    auto mid = lo + (hi - lo) / 2;
    self(self, lo, mid);
    self(self, mid, hi);
  };
  groups(groups, 0, batch.insert_groups.size());
  return out;
}

std::vector<std::string> database::prune(millis cutoff, millis after_at,
                                         const std::string& after_id,
                                         int32_t limit, millis& last_at) {
  pqxx::nontransaction tx{conn()};
  auto rows = tx.exec_params(statements::prune_tasks(), cutoff, after_at,
                             after_or_start(after_id), limit);
  std::vector<std::pair<millis, std::string>> deleted;
  deleted.reserve(rows.size());
  for (auto row : rows)
    deleted.emplace_back(row[1].as<int64_t>(), row[0].as<std::string>());
  // RETURNING keeps no order: the position is the largest (created_at, id).
  std::sort(deleted.begin(), deleted.end());
  std::vector<std::string> ids;
  ids.reserve(deleted.size());
  for (auto& [at, id] : deleted)
    ids.push_back(std::move(id));
  if (!deleted.empty())
    last_at = deleted.back().first;
  return ids;
}

bool database::read_back(const std::string& id) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + in_doubt_patience;
  auto delay = std::chrono::milliseconds(100);
  auto epoch = fencing_epoch();
  for (;;) {
    // Deposed meanwhile: the coordinator that took over recovered from the
    // database and settles it; this process is stopping its active part.
    if (fencing_epoch() != epoch)
      throw pqxx::in_doubt_error{
        "the commit of task " + id
        + " was interrupted and this coordinator was deposed meanwhile; the "
          "active coordinator's recovery settles it"};
    try {
      pqxx::read_transaction tx{conn()};
      return !tx.exec_params(statements::task_exists, id).empty();
    } catch (const pqxx::broken_connection&) {
      reset();
    }
    if (clock::now() + delay > deadline)
      throw pqxx::in_doubt_error{
        "the commit of task " + id
        + " was interrupted and the database stayed unreachable; recovery "
          "at the next start settles it"};
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

std::optional<task_record> database::get(const std::string& id) {
  // One statement: it sees one snapshot without a transaction around it.
  pqxx::nontransaction tx{conn()};
  auto rows = tx.exec_prepared(prepared::select_task, id);
  if (rows.empty())
    return std::nullopt;
  return read_record(rows[0]);
}

task_page database::list(const list_query& q) {
  pqxx::read_transaction tx{conn()};
  auto rows = tx.exec_params(
    statements::list_tasks(!q.status.empty(), !q.type.empty(),
                           q.after_created_at != 0, !q.params.empty()),
    q.status, q.type, q.after_created_at, after_or_start(q.after_id),
    q.limit + 1, q.params.empty() ? std::string{"{}"} : q.params);
  task_page page;
  size_t bytes = 0;
  for (auto row : rows) {
    if (static_cast<int32_t>(page.tasks.size()) == q.limit
        || bytes > max_page_bytes) {
      page.more = true;
      break;
    }
    page.tasks.push_back(read_record(row));
    bytes += page.tasks.back().params.size() + page.tasks.back().result.size();
  }
  return page;
}

std::vector<task_event_record> database::events(const std::string& task_id,
                                               int32_t limit) {
  pqxx::nontransaction tx{conn()};
  std::vector<task_event_record> out;
  for (auto row :
       tx.exec_params(statements::select_task_events(), task_id, limit))
    out.push_back(read_event(row));
  return out;
}

bool database::ensure_params_index() {
  {
    pqxx::nontransaction tx{conn()};
    auto rows = tx.exec(statements::params_index_state);
    if (!rows.empty() && rows[0][0].as<bool>())
      return false;
    if (!rows.empty())
      tx.exec(statements::drop_params_index);
  }
  pqxx::nontransaction tx{conn()};
  tx.exec(statements::create_params_index);
  return true;
}

std::vector<stats_row> database::stats(int64_t window_ms, int64_t bucket_ms) {
  pqxx::read_transaction tx{conn()};
  // (A wide window over many events must not hold the reader's connection
  // for long: other reads wait behind it.)
  tx.exec("SET LOCAL statement_timeout = '10s'");
  std::vector<stats_row> out;
  auto doubles = [](const pqxx::field& f) {
    std::vector<double> v;
    if (f.is_null())
      return v;
    // A float8[] as text: {a,b,c}.
    auto text = f.as<std::string>();
    size_t from = 1;
    while (from < text.size()) {
      auto to = text.find_first_of(",}", from);
      if (to == std::string::npos)
        break;
      v.push_back(std::stod(text.substr(from, to - from)));
      from = to + 1;
    }
    return v;
  };
  for (auto row :
       tx.exec_params(statements::event_stats(), window_ms, bucket_ms)) {
    stats_row r;
    r.type = row[0].as<std::string>();
    r.bucket = row[1].as<int64_t>();
    r.submitted = row[2].as<int64_t>();
    r.completed = row[3].as<int64_t>();
    r.failed = row[4].as<int64_t>();
    r.cancelled = row[5].as<int64_t>();
    r.runs = row[6].as<int64_t>();
    r.run_ms = doubles(row[7]);
    r.starts = row[8].as<int64_t>();
    r.wait_ms = doubles(row[9]);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<webhook_delivery> database::claim_deliveries(int32_t limit,
                                                        int64_t lease_ms) {
  pqxx::nontransaction tx{conn()};
  std::vector<webhook_delivery> out;
  for (auto row :
       tx.exec_params(statements::claim_deliveries(), limit, lease_ms)) {
    webhook_delivery d;
    d.task_id = row[0].as<std::string>();
    d.seq = row[1].as<int32_t>();
    d.url = row[2].as<std::string>();
    d.attempts = row[3].as<int32_t>();
    d.state = "pending";
    out.push_back(std::move(d));
  }
  return out;
}

void database::finish_delivery(const webhook_delivery& d, int64_t next_in_ms) {
  pqxx::nontransaction tx{conn()};
  std::optional<int32_t> status;
  if (d.last_status != 0)
    status = d.last_status;
  std::optional<std::string> error;
  if (!d.last_error.empty())
    error = d.last_error;
  tx.exec_params(statements::finish_delivery(), d.task_id, d.seq, d.state,
                 status, error, next_in_ms);
}

std::vector<webhook_delivery>
database::deliveries(const std::string& task_id) {
  pqxx::nontransaction tx{conn()};
  std::vector<webhook_delivery> out;
  for (auto row : tx.exec_params(statements::select_deliveries(), task_id)) {
    webhook_delivery d;
    d.task_id = row[0].as<std::string>();
    d.seq = row[1].as<int32_t>();
    d.url = row[2].as<std::string>();
    d.state = row[3].as<std::string>();
    d.attempts = row[4].as<int32_t>();
    d.next_at = time_of(row[5]);
    d.last_status = row[6].is_null() ? 0 : row[6].as<int32_t>();
    d.last_error = text_of(row[7]);
    d.delivered_at = time_of(row[8]);
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<task_event_record> database::event(const std::string& task_id,
                                                 int32_t seq) {
  pqxx::nontransaction tx{conn()};
  auto rows = tx.exec_params(statements::select_event(), task_id, seq);
  if (rows.empty())
    return std::nullopt;
  return read_event(rows[0]);
}

std::optional<event_position> database::stream_head() {
  pqxx::nontransaction tx{conn()};
  auto rows = tx.exec(statements::event_stream_head());
  if (rows.empty())
    return std::nullopt;
  return event_position{rows[0][0].as<uint64_t>(), rows[0][1].as<std::string>(),
                        rows[0][2].as<int32_t>()};
}

std::vector<task_event_record>
database::stream_after(const event_position& after, int32_t limit) {
  pqxx::nontransaction tx{conn()};
  std::vector<task_event_record> out;
  for (auto row : tx.exec_params(statements::event_stream_after(),
                                 std::to_string(after.tx), after.task_id,
                                 after.seq, limit))
    out.push_back(read_event(row));
  return out;
}

std::vector<task_event_record>
database::stream_between(const event_position& after,
                         const event_position& upto, int32_t limit) {
  pqxx::nontransaction tx{conn()};
  std::vector<task_event_record> out;
  for (auto row : tx.exec_params(statements::event_stream_between(),
                                 std::to_string(after.tx), after.task_id,
                                 after.seq, std::to_string(upto.tx),
                                 upto.task_id, upto.seq, limit))
    out.push_back(read_event(row));
  return out;
}

std::vector<task_record> database::unfinished(millis after_at,
                                              const std::string& after_id,
                                              millis until, int32_t limit) {
  pqxx::read_transaction tx{conn()};
  std::vector<task_record> out;
  for (auto row : tx.exec_params(statements::unfinished_tasks(), after_at,
                                 after_or_start(after_id), until, limit))
    out.push_back(read_record(row));
  return out;
}

} // namespace tasker

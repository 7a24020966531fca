#include "common/telemetry.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstring>

#include "common/clock.hpp"

namespace tasker {

namespace {

using namespace prometheus;

template <class Builder>
auto& family(Builder builder, Registry& registry, const char* name,
             const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

} // namespace

struct metrics::impl {
  Registry registry;
  Family<Counter>& submitted
    = family(BuildCounter(), registry, "tasker_tasks_submitted_total",
             "Tasks accepted, by type");
  Family<Counter>& completed
    = family(BuildCounter(), registry, "tasker_tasks_completed_total",
             "Tasks that reached a terminal state, by type and status");
  Family<Histogram>& duration
    = family(BuildHistogram(), registry, "tasker_task_duration_seconds",
             "From submission to terminal state, by type");
  Gauge& queue_depth
    = family(BuildGauge(), registry, "tasker_queue_depth",
             "Tasks waiting in the dispatcher's ready queue")
        .Add({});
  Gauge& in_flight = family(BuildGauge(), registry, "tasker_tasks_in_flight",
                            "Attempts running on worker nodes")
                       .Add({});
  Gauge& live_tasks = family(BuildGauge(), registry, "tasker_task_actors",
                             "Live task actors")
                        .Add({});
  Gauge& backlog = family(BuildGauge(), registry, "tasker_persistence_backlog",
                          "Task rows waiting to be written")
                     .Add({});
  Family<Gauge>& workers = family(BuildGauge(), registry,
                                  "tasker_worker_nodes",
                                  "Worker nodes by status");
  Histogram& batch_size
    = family(BuildHistogram(), registry, "tasker_persistence_batch_size",
             "Task rows per group commit")
        .Add({}, Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50, 100, 200,
                                             500, 1000, 2000, 5000});
  Histogram& commit_seconds
    = family(BuildHistogram(), registry, "tasker_persistence_commit_seconds",
             "Latency of one group commit")
        .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005,
                                             0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
                                             1, 2, 5});
  Family<Counter>& http = family(BuildCounter(), registry,
                                 "tasker_http_requests_total",
                                 "HTTP requests by route and status");
  Family<Counter>& restarts = family(BuildCounter(), registry,
                                     "tasker_supervisor_restarts_total",
                                     "Children restarted, by supervisor");
  Counter& cache_counter(const char* name, const char* help) {
    return family(BuildCounter(), registry, name, help).Add({});
  }
  Counter& cache_hits = cache_counter(
    "tasker_cache_hits_total", "Task reads answered by the Redis cache");
  Counter& cache_misses = cache_counter(
    "tasker_cache_misses_total",
    "Task reads that found no usable entry in the Redis cache");
  Counter& cache_read_errors = cache_counter(
    "tasker_cache_read_errors_total",
    "Task reads of the Redis cache that failed (unreachable, timed out)");
  Counter& cache_corrupt = cache_counter(
    "tasker_cache_corrupt_total",
    "Redis cache entries that did not decode (healed from the database)");
  Counter& cache_inconsistent = cache_counter(
    "tasker_cache_inconsistent_total",
    "Redis cache entries that disagreed with the database (healed)");
  Counter& cache_write_errors = cache_counter(
    "tasker_cache_write_errors_total",
    "Writes of the Redis cache that failed and were retried");
  Counter& cache_write_failures = cache_counter(
    "tasker_cache_write_failures_total",
    "Task states not written to the Redis cache after their retries");
  Counter& cache_db_fallbacks = cache_counter(
    "tasker_cache_db_fallbacks_total",
    "Task reads not in memory that went to the database");
  Counter& cache_writes = cache_counter(
    "tasker_cache_writes_total", "Task states written to the Redis cache");
  Counter& retention_deleted = family(BuildCounter(), registry,
                                     "tasker_retention_deleted_total",
                                     "Finished tasks deleted by retention")
                                .Add({});
  Counter& retention_passes = family(BuildCounter(), registry,
                                     "tasker_retention_passes_total",
                                     "Retention passes finished")
                                .Add({});
  Gauge& retention_last_pass
    = family(BuildGauge(), registry, "tasker_retention_last_pass_seconds",
             "How long the last retention pass took")
        .Add({});
  const Histogram::BucketBoundaries duration_buckets{
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    300};
  activity recent;
};

metrics::metrics() : impl_(std::make_unique<impl>()) {}

metrics::~metrics() = default;

void metrics::task_submitted(const std::string& type) {
  impl_->submitted.Add({{"task_name", type}}).Increment();
  impl_->recent.submitted(now_ms());
}

void metrics::task_finished(const std::string& type, const char* status,
                            double seconds) {
  impl_->completed.Add({{"task_name", type}, {"status", status}})
    .Increment();
  impl_->duration.Add({{"task_name", type}}, impl_->duration_buckets).Observe(seconds);
  int kind = std::strcmp(status, "COMPLETED") == 0 ? 0
             : std::strcmp(status, "FAILED") == 0  ? 1
                                                   : 2;
  impl_->recent.finished(now_ms(), kind, seconds * 1000);
}

void metrics::batch_committed(size_t rows, double seconds) {
  impl_->batch_size.Observe(static_cast<double>(rows));
  impl_->commit_seconds.Observe(seconds);
}

void metrics::http_request(const std::string& route, int status) {
  impl_->http.Add({{"route", route}, {"status", std::to_string(status)}})
    .Increment();
}

void metrics::set_queue_depth(int64_t n) {
  impl_->queue_depth.Set(static_cast<double>(n));
  impl_->recent.set(now_ms(), activity::gauge::queue_depth, n);
}

void metrics::set_in_flight(int64_t n) {
  impl_->in_flight.Set(static_cast<double>(n));
  impl_->recent.set(now_ms(), activity::gauge::in_flight, n);
}

void metrics::set_live_tasks(int64_t n) {
  impl_->live_tasks.Set(static_cast<double>(n));
  impl_->recent.set(now_ms(), activity::gauge::live_tasks, n);
}

void metrics::set_persistence_backlog(int64_t n) {
  impl_->backlog.Set(static_cast<double>(n));
  impl_->recent.set(now_ms(), activity::gauge::backlog, n);
}

void metrics::set_workers(const std::string& status, int64_t n) {
  impl_->workers.Add({{"status", status}}).Set(static_cast<double>(n));
}

void metrics::supervisor_restart(const std::string& supervisor) {
  impl_->restarts.Add({{"supervisor", supervisor}}).Increment();
}

void metrics::cache(cache_event what) {
  auto& m = *impl_;
  switch (what) {
    case cache_event::hit: m.cache_hits.Increment(); break;
    case cache_event::miss: m.cache_misses.Increment(); break;
    case cache_event::read_error: m.cache_read_errors.Increment(); break;
    case cache_event::corrupt: m.cache_corrupt.Increment(); break;
    case cache_event::inconsistent: m.cache_inconsistent.Increment(); break;
    case cache_event::write_error: m.cache_write_errors.Increment(); break;
    case cache_event::write_failure: m.cache_write_failures.Increment(); break;
    case cache_event::db_fallback: m.cache_db_fallbacks.Increment(); break;
  }
}

void metrics::retention_deleted(size_t n) {
  impl_->retention_deleted.Increment(static_cast<double>(n));
}

void metrics::retention_pass(double seconds) {
  impl_->retention_passes.Increment();
  impl_->retention_last_pass.Set(seconds);
}

void metrics::cache_written(size_t n) {
  impl_->cache_writes.Increment(static_cast<double>(n));
}

cache_counts metrics::cache_totals() const {
  auto& m = *impl_;
  auto v = [](const Counter& c) { return static_cast<uint64_t>(c.Value()); };
  return {v(m.cache_hits),          v(m.cache_misses),
          v(m.cache_read_errors),   v(m.cache_corrupt),
          v(m.cache_inconsistent),  v(m.cache_write_errors),
          v(m.cache_write_failures), v(m.cache_db_fallbacks),
          v(m.cache_writes)};
}

void supervision_log::restarted(const std::string& name, std::string reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& r = records_[name];
  ++r.restarts;
  r.last_at = now_ms();
  r.last_reason = std::move(reason);
}

restart_record supervision_log::of(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = records_.find(name);
  return i == records_.end() ? restart_record{} : i->second;
}

const activity& metrics::recent() const {
  return impl_->recent;
}

std::string metrics::serialize() const {
  return prometheus::TextSerializer{}.Serialize(impl_->registry.Collect());
}

} // namespace tasker

#include "common/telemetry.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

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
  const Histogram::BucketBoundaries duration_buckets{
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    300};
};

metrics::metrics() : impl_(std::make_unique<impl>()) {}

metrics::~metrics() = default;

void metrics::task_submitted(const std::string& type) {
  impl_->submitted.Add({{"task_name", type}}).Increment();
}

void metrics::task_finished(const std::string& type, const char* status,
                            double seconds) {
  impl_->completed.Add({{"task_name", type}, {"status", status}})
    .Increment();
  impl_->duration.Add({{"task_name", type}}, impl_->duration_buckets).Observe(seconds);
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
}

void metrics::set_in_flight(int64_t n) {
  impl_->in_flight.Set(static_cast<double>(n));
}

void metrics::set_live_tasks(int64_t n) {
  impl_->live_tasks.Set(static_cast<double>(n));
}

void metrics::set_persistence_backlog(int64_t n) {
  impl_->backlog.Set(static_cast<double>(n));
}

void metrics::set_workers(const std::string& status, int64_t n) {
  impl_->workers.Add({{"status", status}}).Set(static_cast<double>(n));
}

void metrics::supervisor_restart(const std::string& supervisor) {
  impl_->restarts.Add({{"supervisor", supervisor}}).Increment();
}

std::string metrics::serialize() const {
  return prometheus::TextSerializer{}.Serialize(impl_->registry.Collect());
}

} // namespace tasker

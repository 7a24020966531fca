#include "common/telemetry.hpp"

#include <mutex>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace tasker {

struct metrics::impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& submitted
    = prometheus::BuildCounter()
        .Name("tasker_tasks_submitted_total")
        .Help("Tasks accepted, by type")
        .Register(registry);
  prometheus::Family<prometheus::Counter>& completed
    = prometheus::BuildCounter()
        .Name("tasker_tasks_completed_total")
        .Help("Tasks that reached a terminal state, by type and status")
        .Register(registry);
  prometheus::Family<prometheus::Histogram>& duration
    = prometheus::BuildHistogram()
        .Name("tasker_task_duration_seconds")
        .Help("From submission to terminal state, by type")
        .Register(registry);
  prometheus::Gauge& queue_depth
    = prometheus::BuildGauge()
        .Name("tasker_queue_depth")
        .Help("Tasks waiting in the dispatcher's ready queue")
        .Register(registry)
        .Add({});
  prometheus::Gauge& in_flight = prometheus::BuildGauge()
                                   .Name("tasker_tasks_in_flight")
                                   .Help("Attempts running on worker nodes")
                                   .Register(registry)
                                   .Add({});
  prometheus::Gauge& live_tasks = prometheus::BuildGauge()
                                    .Name("tasker_task_actors")
                                    .Help("Live task actors")
                                    .Register(registry)
                                    .Add({});
  prometheus::Gauge& backlog
    = prometheus::BuildGauge()
        .Name("tasker_persistence_backlog")
        .Help("Task rows waiting to be written")
        .Register(registry)
        .Add({});
  prometheus::Family<prometheus::Gauge>& workers
    = prometheus::BuildGauge()
        .Name("tasker_worker_nodes")
        .Help("Worker nodes by status")
        .Register(registry);
  prometheus::Histogram& batch_size
    = prometheus::BuildHistogram()
        .Name("tasker_persistence_batch_size")
        .Help("Task rows per group commit")
        .Register(registry)
        .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50,
                                                         100, 200, 500, 1000,
                                                         2000, 5000});
  prometheus::Histogram& commit_seconds
    = prometheus::BuildHistogram()
        .Name("tasker_persistence_commit_seconds")
        .Help("Latency of one group commit")
        .Register(registry)
        .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002,
                                                         0.005, 0.01, 0.02,
                                                         0.05, 0.1, 0.2, 0.5,
                                                         1, 2, 5});
  prometheus::Family<prometheus::Counter>& http
    = prometheus::BuildCounter()
        .Name("tasker_http_requests_total")
        .Help("HTTP requests by route and status")
        .Register(registry);
  prometheus::Family<prometheus::Counter>& restarts
    = prometheus::BuildCounter()
        .Name("tasker_supervisor_restarts_total")
        .Help("Children restarted, by supervisor")
        .Register(registry);
};

namespace {

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    300};
  return b;
}

} // namespace

metrics::metrics() : impl_(std::make_unique<impl>()) {
  // nop
}

metrics::~metrics() = default;

void metrics::task_submitted(const std::string& type) {
  impl_->submitted.Add({{"task_name", type}}).Increment();
}

void metrics::task_finished(const std::string& type, const char* status,
                            double seconds) {
  impl_->completed.Add({{"task_name", type}, {"status", status}})
    .Increment();
  impl_->duration.Add({{"task_name", type}}, duration_buckets()).Observe(seconds);
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
  prometheus::TextSerializer ser;
  return ser.Serialize(impl_->registry.Collect());
}

} // namespace tasker

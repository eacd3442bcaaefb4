#include "gateway/server/metrics.h"

#include <cstdio>

namespace inloop::gateway {

namespace {

// Label values are our own identifiers, but escape anyway (\, ", newline).
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void Metrics::observeRequest(std::string_view route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{std::string(route), status}];
  Histogram& h = latency_[std::string(route)];
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::onOutcome(const RecordOutcome& outcome) {
  std::string type = outcome.recordType.empty() ? "unknown" : outcome.recordType;
  std::lock_guard<std::mutex> lock(mutex_);
  ++records_[{std::move(type), ingestStatusName(outcome.status)}];
}

void Metrics::observeReload(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(ok ? reloadsOk_ : reloadsFailed_);
}

std::string Metrics::render(const MetricGauges& gauges) const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  out += "# HELP inloop_http_requests_total HTTP requests by route and status.\n";
  out += "# TYPE inloop_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "inloop_http_requests_total{route=\"" + label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP inloop_http_request_duration_seconds Time from request to reply.\n";
  out += "# TYPE inloop_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string r = label(route);
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out += "inloop_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"" +
             number(kLatencyBuckets[i]) + "\"} " + std::to_string(h.buckets[i]) + "\n";
    }
    out += "inloop_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "inloop_http_request_duration_seconds_sum{route=\"" + r + "\"} " + number(h.sum) + "\n";
    out += "inloop_http_request_duration_seconds_count{route=\"" + r + "\"} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP inloop_records_total Plan records received, by record type and outcome.\n";
  out += "# TYPE inloop_records_total counter\n";
  for (const auto& [key, n] : records_) {
    out += "inloop_records_total{type=\"" + label(key.first) + "\",outcome=\"" + label(key.second) +
           "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP inloop_mapping_reloads_total Mapping table reloads by result.\n";
  out += "# TYPE inloop_mapping_reloads_total counter\n";
  out += "inloop_mapping_reloads_total{result=\"ok\"} " + std::to_string(reloadsOk_) + "\n";
  out +=
      "inloop_mapping_reloads_total{result=\"rejected\"} " + std::to_string(reloadsFailed_) + "\n";
  out += "# HELP inloop_store_records Stored records (latest versions) by type.\n";
  out += "# TYPE inloop_store_records gauge\n";
  for (const auto& [type, n] : gauges.recordsByType) {
    out += "inloop_store_records{type=\"" + label(type) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP inloop_store_outbox Outbox entries by delivery state (incl. unroutable).\n";
  out += "# TYPE inloop_store_outbox gauge\n";
  for (const auto& [state, n] : gauges.outboxByState) {
    out += "inloop_store_outbox{state=\"" + label(state) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP inloop_store_size_bytes Size of the store's database file.\n";
  out += "# TYPE inloop_store_size_bytes gauge\n";
  out += "inloop_store_size_bytes " + std::to_string(gauges.storeSizeBytes) + "\n";
  out += "# HELP inloop_store_commits_total Group commits (transactions) of the store.\n";
  out += "# TYPE inloop_store_commits_total counter\n";
  out += "inloop_store_commits_total " + std::to_string(gauges.storeCommits) + "\n";
  out += "# HELP inloop_ready 1 when the store is writable and the configuration loaded.\n";
  out += "# TYPE inloop_ready gauge\n";
  out += std::string("inloop_ready ") + (gauges.ready ? "1" : "0") + "\n";
  return out;
}

}  // namespace inloop::gateway

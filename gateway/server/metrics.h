#pragma once

// Metrics: the daemon's counters, rendered in the Prometheus text exposition
// format (version 0.0.4) for `GET /metrics`.
//
// - inloop_http_requests_total{route,status}        counter
// - inloop_http_request_duration_seconds{route}     histogram
// - inloop_records_total{type,outcome}               counter (accepted, replay,
//   conflict, stale, invalid, malformed, too-large, unavailable, error)
// - inloop_store_records{type}, inloop_store_outbox{state} (incl. unroutable),
//   inloop_store_size_bytes, inloop_store_commits_total, inloop_ready,
//   inloop_mapping_reloads_total{result}            from a Gauges snapshot
//
// Routes are the API's route templates ("/records/{recordId}"), never raw
// paths, so the label set stays bounded. Thread safety: every method may be
// called concurrently.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/ingest/ingest_pipeline.h"

namespace inloop::gateway {

// Values read at scrape time (from the store and the daemon).
struct MetricGauges {
  std::vector<std::pair<std::string, std::int64_t>> recordsByType;
  std::vector<std::pair<std::string, std::int64_t>> outboxByState;
  std::int64_t storeSizeBytes = 0;
  std::int64_t storeCommits = 0;
  bool ready = false;
};

class Metrics : public IngestObserver {
 public:
  // Upper bounds of the latency histogram, in seconds.
  static constexpr std::array<double, 12> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  void observeRequest(std::string_view route, int status, double seconds);
  void onOutcome(const RecordOutcome& outcome) override;
  void observeReload(bool ok);

  // The whole exposition text.
  std::string render(const MetricGauges& gauges) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> records_;
  std::uint64_t reloadsOk_ = 0;
  std::uint64_t reloadsFailed_ = 0;
};

}  // namespace inloop::gateway

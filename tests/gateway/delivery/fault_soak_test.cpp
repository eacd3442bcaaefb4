// Soak with periodic receiver faults (hidden: run by scripts/stress, not by
// ctest). The real `inloop serve` (INLOOP_BINARY) runs as a child delivering
// to the real FHIR server peer; two client threads post a paced mix of new
// records and new versions of earlier ones for INLOOP_SOAK_MINUTES minutes
// (default 1) at INLOOP_SOAK_RATE records per second (default 5). Once a
// minute the peer is frozen (SIGSTOP) from second 20 to second 35, so sends
// time out, retry and trip the circuit breaker, then it resumes (SIGCONT).
// At the end of each minute the child's VmRSS, open file descriptors, the
// ingest latency of that minute (p50/p95/max) and the queue are sampled.
// Afterwards the queue drains and every acknowledged record is accounted for:
// its latest version delivered, or dead-lettered with a reason.
// INLOOP_SOAK_REPORT=PATH writes PATH.json and PATH.md (a Markdown table).
//
// Asserted: nothing unaccounted, PRAGMA integrity_check ok, fds flat (last
// minute <= first + 8), RSS bounded (last <= 2 x the second minute's, +16 MiB),
// ingest p95 of the last minute <= 5 x the first's + 200 ms.

#include <Poco/Net/HTTPClientSession.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/serve_child.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using inloop::delivery_testing::measurement;
using inloop::fhir::Json;
using inloop::testing::ServeChild;
using inloop::testing::storeCount;
using inloop::testing::storeQuery;

constexpr const char* kToken = "soak-token-0123456789abcdef012345";
constexpr int kClientThreads = 2;
constexpr int kPatientsPerThread = 20;

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  const int n = v != nullptr ? std::atoi(v) : 0;
  return n > 0 ? n : fallback;
}

std::int64_t procStatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  }
  return -1;
}

std::int64_t openFds(pid_t pid) {
  std::error_code ec;
  std::int64_t n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

struct Sample {
  int minute = 0;
  std::int64_t rssKb = 0;
  std::int64_t fds = 0;
  double p50Ms = 0, p95Ms = 0, maxMs = 0;
  std::int64_t acks = 0, refused = 0, other = 0, pending = 0, delivered = 0, deadLetters = 0;
};

// Latencies and counts of the current minute, shared by the clients.
struct Window {
  std::mutex mutex;
  std::vector<double> latenciesMs;
  std::int64_t acks = 0;
  std::int64_t refused = 0;  // 503 (asked to retry)
  std::int64_t other = 0;    // any other answer (a failure of the run)
  // Every unexpected answer of the run: status (0: no HTTP answer) -> count, and the
  // first answer of each status (an OperationOutcome or the client's exception text).
  std::map<int, std::int64_t> unexpected;
  std::map<int, std::string> unexpectedExample;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

struct ClientRecord {
  std::string id;
  std::string mrn;
  std::int64_t acked = 0;  // highest acknowledged version
};

// Posts a paced mix: 70 % new records, 30 % the next version of an acked one.
void runClient(int port, int thread, double perSecond, const std::atomic<bool>* stop,
               Window* window, std::map<std::string, std::int64_t>* ackedOut) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setKeepAlive(true);
  session.setTimeout(Poco::Timespan(30, 0));
  std::mt19937 rng(static_cast<unsigned>(thread) * 7919u + 1u);
  std::vector<ClientRecord> records;
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / perSecond));
  auto next = Clock::now();
  std::mutex pace;
  std::condition_variable paceCv;
  for (int n = 0; !stop->load(); ++n) {
    {
      std::unique_lock<std::mutex> lock(pace);
      paceCv.wait_until(lock, next, [&] { return stop->load(); });
    }
    next += interval;
    ClientRecord* r = nullptr;
    if (records.empty() || rng() % 10 < 7) {
      const std::string patient = std::to_string(thread * kPatientsPerThread +
                                                 static_cast<int>(rng() % kPatientsPerThread));
      records.push_back(
          {"SOAK-" + std::to_string(thread) + "-" + std::to_string(n), "MRN-SOAK-" + patient, 0});
      r = &records.back();
    } else {
      r = &records[rng() % records.size()];
    }
    const std::int64_t version = r->acked + 1;
    const auto start = Clock::now();
    std::string answer;
    const int status =
        inloop::testing::postRecord(session, measurement(r->id, version, r->mrn), kToken, &answer);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::lock_guard<std::mutex> lock(window->mutex);
    window->latenciesMs.push_back(ms);
    if (status == 200 || status == 202) {
      r->acked = version;
      ++window->acks;
    } else if (status == 503) {
      ++window->refused;
    } else {
      ++window->other;
      ++window->unexpected[status];
      window->unexpectedExample.emplace(status, answer.substr(0, 500));
    }
  }
  std::lock_guard<std::mutex> lock(window->mutex);
  for (const ClientRecord& r : records) {
    if (r.acked > 0) (*ackedOut)[r.id] = r.acked;
  }
}

struct Accounting {
  std::int64_t acked = 0, delivered = 0, deadLettered = 0, unaccounted = 0;
  std::vector<std::string> examples;  // first unaccounted records, with why
};

Accounting account(const fs::path& db, const std::map<std::string, std::int64_t>& acked) {
  struct Row {
    std::int64_t latest = 0;
    std::string state, lastError;
  };
  std::map<std::string, Row> rows;
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(conn,
                           "SELECT r.record_id, r.latest_version, o.state, o.last_error "
                           "FROM records r JOIN outbox o ON o.record_id = r.record_id "
                           "AND o.version = r.latest_version",
                           -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        auto text = [&](int c) {
          const unsigned char* t = sqlite3_column_text(stmt, c);
          return t != nullptr ? std::string(reinterpret_cast<const char*>(t)) : std::string();
        };
        rows[text(0)] = Row{sqlite3_column_int64(stmt, 1), text(2), text(3)};
      }
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(conn);
  Accounting a;
  for (const auto& [id, version] : acked) {
    ++a.acked;
    auto it = rows.find(id);
    std::string why;
    if (it == rows.end()) {
      why = "not in the store";
    } else if (it->second.latest < version) {
      why = "stored version " + std::to_string(it->second.latest) + " < acknowledged";
    } else if (it->second.state == "delivered") {
      ++a.delivered;
    } else if (it->second.state == "dead-letter" && !it->second.lastError.empty()) {
      ++a.deadLettered;
    } else {
      why = "state " + it->second.state;
    }
    if (!why.empty()) {
      ++a.unaccounted;
      if (a.examples.size() < 5) a.examples.push_back(id + ": " + why);
    }
  }
  return a;
}

std::string fixed(double v) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << v;
  return s.str();
}

}  // namespace

TEST_CASE("soak: mixed ingest and delivery with periodic receiver faults", "[.][soak]") {
  REQUIRE(inloop::testing::peersAvailable("the fault soak"));
  const int minutes = envInt("INLOOP_SOAK_MINUTES", 1);
  const int rate = envInt("INLOOP_SOAK_RATE", 5);
  const char* reportEnv = std::getenv("INLOOP_SOAK_REPORT");
  inloop::testing::FhirServerPeer server;
  REQUIRE_FALSE(server.base().empty());
  inloop::server_testing::TempDir dir;
  const fs::path db = dir.path() / "data" / "inloop.db";
  const fs::path config = dir.path() / "inloop.json";
  inloop::server_testing::writeFile(
      config, "{\"mappingsDir\": \"" + (fs::path(INLOOP_SOURCE_DIR) / "config/mappings").string() +
                  "\", \"inbox\": {\"enabled\": false}, \"logLevel\": \"info\", "
                  "\"delivery\": {\"leaseMs\": 10000, \"backoffBaseMs\": 500, "
                  "\"backoffCapMs\": 10000, \"breakerOpenMs\": 5000}}\n");
  const fs::path destinations = dir.path() / "destinations.json";
  inloop::server_testing::writeFile(
      destinations,
      "{\"destinations\": [{\"id\": \"peer\", \"kind\": \"fhir-transaction\", "
      "\"endpoint\": \"" +
          server.base() +
          "\", \"timeouts\": {\"connectMs\": 2000, \"requestMs\": 10000}}], "
          "\"routes\": {\"*\": [\"peer\"]}}\n");
  ServeChild child(inloop::testing::ServeOptions{
      dir.path() / "data", kToken, config, {"--destinations", destinations.string()}});
  const int port = child.waitForPort(std::chrono::seconds(60));
  INFO("child output:\n" << child.output());
  REQUIRE(port > 0);

  std::atomic<bool> stop{false};
  Window window;
  std::map<std::string, std::int64_t> acked;
  std::vector<std::thread> clients;
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back(runClient, port, t, static_cast<double>(rate) / kClientThreads, &stop,
                         &window, &acked);
  }
  // Always resume the peer and stop the clients, whatever happens below.
  struct Cleanup {
    pid_t peer;
    std::atomic<bool>* stop;
    std::vector<std::thread>* clients;
    ~Cleanup() {
      ::kill(peer, SIGCONT);
      stop->store(true);
      for (std::thread& c : *clients) {
        if (c.joinable()) c.join();
      }
    }
  } cleanup{server.pid(), &stop, &clients};

  std::mutex timer;
  std::condition_variable timerCv;
  auto waitTill = [&](Clock::time_point when) {
    std::unique_lock<std::mutex> lock(timer);
    timerCv.wait_until(lock, when, [] { return false; });
  };
  std::vector<Sample> samples;
  const auto t0 = Clock::now();
  for (int m = 1; m <= minutes; ++m) {
    const auto base = t0 + std::chrono::minutes(m - 1);
    waitTill(base + std::chrono::seconds(20));
    ::kill(server.pid(), SIGSTOP);
    waitTill(base + std::chrono::seconds(35));
    ::kill(server.pid(), SIGCONT);
    waitTill(base + std::chrono::seconds(60));
    Sample s;
    s.minute = m;
    s.rssKb = procStatusKb(child.pid(), "VmRSS");
    s.fds = openFds(child.pid());
    {
      std::lock_guard<std::mutex> lock(window.mutex);
      s.p50Ms = percentile(window.latenciesMs, 0.50);
      s.p95Ms = percentile(window.latenciesMs, 0.95);
      s.maxMs = percentile(window.latenciesMs, 1.0);
      s.acks = window.acks;
      s.refused = window.refused;
      s.other = window.other;
      window.latenciesMs.clear();
      window.acks = 0;
      window.refused = 0;
      window.other = 0;
    }
    s.pending = storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'");
    s.delivered = storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'delivered'");
    s.deadLetters = storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'dead-letter'");
    samples.push_back(s);
    WARN("soak minute " << m << ": rss " << s.rssKb << " kB, fds " << s.fds << ", p95 "
                        << fixed(s.p95Ms) << " ms, acks " << s.acks << ", pending " << s.pending);
  }
  stop.store(true);
  for (std::thread& c : clients) c.join();
  ::kill(server.pid(), SIGCONT);
  const auto drainStart = Clock::now();
  const bool drained = child.waitUntil(
      [&] { return storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0; },
      std::chrono::seconds(600));
  const double drainSeconds = std::chrono::duration<double>(Clock::now() - drainStart).count();
  const int stopStatus = child.terminate();
  const std::string integrity = storeQuery(db, "PRAGMA integrity_check");
  const Accounting a = account(db, acked);

  // The report.
  Json report = Json::object();
  report.set("minutes", Json::number(std::int64_t{minutes}));
  report.set("ratePerSecond", Json::number(std::int64_t{rate}));
  report.set("faults", Json::string("FHIR peer frozen (SIGSTOP) seconds 20-35 of every minute; "
                                    "destination requestMs 10000"));
  Json rows = Json::array();
  std::ostringstream md;
  md << "| minute | VmRSS (kB) | open fds | ingest p50 (ms) | p95 (ms) | max (ms) | acks | 503s "
        "| other answers | pending | delivered | dead letters |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Sample& s : samples) {
    Json r = Json::object();
    r.set("minute", Json::number(std::int64_t{s.minute}));
    r.set("rssKb", Json::number(s.rssKb));
    r.set("fds", Json::number(s.fds));
    r.set("p50Ms", Json::numberText(fixed(s.p50Ms)));
    r.set("p95Ms", Json::numberText(fixed(s.p95Ms)));
    r.set("maxMs", Json::numberText(fixed(s.maxMs)));
    r.set("acks", Json::number(s.acks));
    r.set("refused503", Json::number(s.refused));
    r.set("otherAnswers", Json::number(s.other));
    r.set("pending", Json::number(s.pending));
    r.set("delivered", Json::number(s.delivered));
    r.set("deadLetters", Json::number(s.deadLetters));
    rows.push(std::move(r));
    md << "| " << s.minute << " | " << s.rssKb << " | " << s.fds << " | " << fixed(s.p50Ms) << " | "
       << fixed(s.p95Ms) << " | " << fixed(s.maxMs) << " | " << s.acks << " | " << s.refused
       << " | " << s.other << " | " << s.pending << " | " << s.delivered << " | " << s.deadLetters
       << " |\n";
  }
  report.set("samples", std::move(rows));
  Json summary = Json::object();
  summary.set("acknowledgedRecords", Json::number(a.acked));
  summary.set("delivered", Json::number(a.delivered));
  summary.set("deadLetteredWithReason", Json::number(a.deadLettered));
  summary.set("unaccounted", Json::number(a.unaccounted));
  const std::int64_t stillPending =
      storeCount(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'");
  summary.set("drained", Json::boolean(drained));
  summary.set("drainSeconds", Json::numberText(fixed(drainSeconds)));
  summary.set("pendingAtEnd", Json::number(stillPending));
  summary.set("integrityCheck", Json::string(integrity));
  Json unexpected = Json::array();
  {
    std::lock_guard<std::mutex> lock(window.mutex);
    for (const auto& [status, count] : window.unexpected) {
      Json u = Json::object();
      u.set("status", Json::number(std::int64_t{status}));
      u.set("count", Json::number(count));
      u.set("firstAnswer", Json::string(window.unexpectedExample[status]));
      unexpected.push(std::move(u));
      md << "\nUnexpected answers with status " << status << " (0: no HTTP answer): " << count
         << "; the first: " << window.unexpectedExample[status] << "\n";
    }
  }
  summary.set("unexpectedAnswers", std::move(unexpected));
  report.set("summary", std::move(summary));
  md << "\nAcknowledged records " << a.acked << ": delivered " << a.delivered
     << ", dead-lettered with a reason " << a.deadLettered << ", unaccounted " << a.unaccounted
     << (drained ? ". Queue drained in " : ". Queue NOT drained within ") << fixed(drainSeconds)
     << " s after the load stopped (" << stillPending << " pending at the end). "
     << "integrity_check: " << integrity << ".\n";
  if (reportEnv != nullptr && *reportEnv != 0) {
    inloop::server_testing::writeFile(std::string(reportEnv) + ".json",
                                      inloop::fhir::writeJson(report) + "\n");
    inloop::server_testing::writeFile(std::string(reportEnv) + ".md", md.str());
  }
  WARN(md.str());

  {
    std::lock_guard<std::mutex> lock(window.mutex);
    INFO("first unexpected answer: " << (window.unexpectedExample.empty()
                                             ? std::string()
                                             : window.unexpectedExample.begin()->second));
    CHECK(window.unexpected.empty());
  }
  CHECK(WIFEXITED(stopStatus));
  CHECK(drained);
  CHECK(integrity == "ok");
  CHECK(a.acked > 0);
  INFO("unaccounted examples: " << (a.examples.empty() ? "" : a.examples.front()));
  CHECK(a.unaccounted == 0);
  REQUIRE_FALSE(samples.empty());
  const Sample& first = samples.front();
  const Sample& last = samples.back();
  const Sample& settled = samples.size() > 1 ? samples[1] : samples[0];
  CHECK(last.fds <= first.fds + 8);
  CHECK(last.rssKb <= 2 * settled.rssKb + 16 * 1024);
  CHECK(last.p95Ms <= 5 * first.p95Ms + 200);
}

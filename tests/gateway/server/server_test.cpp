// The daemon's HTTP API, in-process on port 0 with a temporary store and the
// shipped mapping tables: every status code, replay/conflict/stale, batches with
// partial failure, auth, limits, readiness, metrics and mapping-table reloads.
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gateway/server/api_handler.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;
using inloop::server_testing::withMember;

const std::string kPainNrs = "measurement-pain-nrs.json";

bool outcomeHasExpression(const HttpReply& r, const std::string& expression) {
  const Json oo = r.json();
  const Json* issues = oo.find("issue");
  if (issues == nullptr) return false;
  for (const Json& i : issues->items()) {
    const Json* e = i.find("expression");
    if (e != nullptr && !e->items().empty() && e->items()[0].text() == expression) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("one function maps error codes to HTTP statuses", "[gateway][server]") {
  using inloop::fhir::ErrorCode;
  using inloop::gateway::httpStatusFor;
  using inloop::gateway::IngestStatus;
  struct Case {
    ErrorCode code;
    int status;
  };
  const Case cases[] = {
      {ErrorCode::kOk, 200},           {ErrorCode::kMalformed, 400}, {ErrorCode::kInvalid, 422},
      {ErrorCode::kTooLarge, 413},     {ErrorCode::kNotFound, 404},  {ErrorCode::kConflict, 409},
      {ErrorCode::kUnauthorized, 401}, {ErrorCode::kForbidden, 403}, {ErrorCode::kUnsupported, 415},
      {ErrorCode::kUnavailable, 503},  {ErrorCode::kIoError, 500},   {ErrorCode::kInternal, 500},
  };
  for (const Case& c : cases) {
    INFO(inloop::fhir::errorCodeName(c.code));
    CHECK(httpStatusFor(c.code) == c.status);
  }
  CHECK(httpStatusFor(IngestStatus::kAccepted) == 202);
  CHECK(httpStatusFor(IngestStatus::kReplay) == 200);
  CHECK(httpStatusFor(IngestStatus::kStale) == 409);
  CHECK(httpStatusFor(IngestStatus::kConflict) == 409);
  CHECK(httpStatusFor(IngestStatus::kInvalid) == 422);
  CHECK(httpStatusFor(IngestStatus::kMalformed) == 400);
  CHECK(httpStatusFor(IngestStatus::kUnavailable) == 503);
}

TEST_CASE("health and readiness need no token", "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  REQUIRE(f.port() != 0);
  HttpReply h = f.request("GET", "/healthz");
  CHECK(h.status == 200);
  CHECK(h.json().find("status")->text() == "up");
  HttpReply r = f.request("GET", "/readyz");
  CHECK(r.status == 200);
  CHECK(r.json().find("status")->text() == "ready");
  CHECK(f.request("POST", "/healthz", "", "{}").status == 405);
  CHECK(f.request("GET", "/nowhere").status == 404);
}

TEST_CASE("POST /records: accepted, replay, conflict, stale", "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string v1 = exampleRecord(kPainNrs);

  HttpReply accepted = f.request("POST", "/records", kIngestToken, v1);
  INFO(accepted.body);
  REQUIRE(accepted.status == 202);
  CHECK(accepted.reason == "Accepted");  // the status line says what the code means
  Json receipt = accepted.json();
  CHECK(receipt.find("recordId")->text() == "M-2026-118834");
  CHECK(receipt.find("version")->text() == "1");
  CHECK(receipt.find("status")->text() == "accepted");
  const std::string receiptId = receipt.find("receiptId")->text();
  CHECK_FALSE(receiptId.empty());

  // Same content again (even re-serialised differently): replay, same receipt.
  HttpReply replay = f.request("POST", "/records", kIngestToken,
                               withMember(v1, "version", Json::number(std::int64_t{1})));
  CHECK(replay.status == 200);
  CHECK(replay.reason == "OK");
  CHECK(replay.json().find("receiptId")->text() == receiptId);

  // Same version, different content: conflict.
  HttpReply conflict = f.request("POST", "/records", kIngestToken,
                                 withMember(v1, "value", Json::number(std::int64_t{7})));
  CHECK(conflict.status == 409);
  CHECK(conflict.reason == "Conflict");
  CHECK(conflict.contentType == "application/fhir+json");
  CHECK(conflict.json().find("resourceType")->text() == "OperationOutcome");

  // Version 3, then version 2: stale.
  std::string v3 = withMember(withMember(v1, "version", Json::number(std::int64_t{3})), "value",
                              Json::number(std::int64_t{5}));
  CHECK(f.request("POST", "/records", kIngestToken, v3).status == 202);
  std::string v2 = withMember(v1, "version", Json::number(std::int64_t{2}));
  HttpReply stale = f.request("POST", "/records", kIngestToken, v2);
  CHECK(stale.status == 409);

  // The latest version with its receipt, translation and delivery state.
  HttpReply got = f.request("GET", "/records/M-2026-118834", kReadToken);
  INFO(got.body);
  REQUIRE(got.status == 200);
  Json view = got.json();
  CHECK(view.find("version")->text() == "3");
  CHECK(view.find("recordType")->text() == "measurement");
  CHECK(view.find("translation")->find("resourceType")->text() == "Bundle");
  CHECK(view.find("record")->find("value")->text() == "5");
  CHECK(view.find("versions")->size() == 2);
  // No destinations exist yet: the latest version is visible as unroutable,
  // the older marker is superseded.
  REQUIRE(view.find("deliveries")->size() == 2);
  CHECK(view.find("deliveries")->items()[0].find("state")->text() == "superseded");
  CHECK(view.find("deliveries")->items()[1].find("state")->text() == "unroutable");

  CHECK(f.request("GET", "/records/NOPE-1", kReadToken).status == 404);
}

TEST_CASE("POST /records: invalid input is 400/413/415/422 and nothing is stored",
          "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string good = exampleRecord(kPainNrs);

  HttpReply notJson = f.request("POST", "/records", kIngestToken, "{\"recordId\": ");
  CHECK(notJson.status == 400);
  CHECK(notJson.json().find("resourceType")->text() == "OperationOutcome");

  // Two problems in one record: both reported with their paths.
  std::string bad = withMember(withMember(good, "measure", Json::string("pain-vas")), "status",
                               Json::string("done"));
  HttpReply invalid = f.request("POST", "/records", kIngestToken, bad);
  INFO(invalid.body);
  CHECK(invalid.status == 422);
  CHECK(invalid.reason == "Unprocessable Entity");
  CHECK(outcomeHasExpression(invalid, "$.status"));
  CHECK(f.request("GET", "/records/M-2026-118834", kReadToken).status == 404);

  HttpReply unknownCode = f.request("POST", "/records", kIngestToken,
                                    withMember(good, "measure", Json::string("pain-vas")));
  CHECK(unknownCode.status == 422);
  CHECK(outcomeHasExpression(unknownCode, "$.measure"));

  HttpReply wrongType = f.request("POST", "/records", kIngestToken, good, "text/plain");
  CHECK(wrongType.status == 415);
  CHECK(wrongType.reason == "Unsupported Media Type");

  // A body over the limit is refused from its Content-Length, before it is
  // read (the head alone is sent, so the test does not race the early reply).
  Poco::Net::StreamSocket s(Poco::Net::SocketAddress("127.0.0.1", f.port()));
  const std::string head =
      std::string("POST /records HTTP/1.1\r\nHost: localhost\r\n") + "Authorization: Bearer " +
      kIngestToken + "\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(2u << 20) + "\r\n\r\n";
  s.sendBytes(head.data(), static_cast<int>(head.size()));
  std::string reply;
  char buf[4096];
  for (int n; (n = s.receiveBytes(buf, sizeof buf)) > 0;) reply.append(buf, std::size_t(n));
  CHECK(reply.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"));
  CHECK(reply.find("OperationOutcome") != std::string::npos);

  CHECK(f.request("GET", "/records/M-2026-118834", kReadToken).status == 404);
}

TEST_CASE("authentication: 401 without or with an unknown token, 403 for a wrong role",
          "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string record = exampleRecord(kPainNrs);
  struct Case {
    const char* name;
    std::string method;
    std::string path;
    std::string token;
    int status;
  };
  const std::vector<Case> cases = {
      {"no token", "POST", "/records", "", 401},
      {"unknown token", "POST", "/records", "not-a-token", 401},
      {"read token cannot ingest", "POST", "/records", kReadToken, 403},
      {"ingest token cannot read", "GET", "/records/M-1", kIngestToken, 403},
      {"ingest token cannot reload", "POST", "/admin/reload", kIngestToken, 403},
      {"metrics need a token", "GET", "/metrics", "", 401},
      {"ingest token cannot scrape", "GET", "/metrics", kIngestToken, 403},
      {"batch needs ingest", "POST", "/records/$batch", kReadToken, 403},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    HttpReply r = f.request(c.method, c.path, c.token, c.method == "POST" ? record : "");
    CHECK(r.status == c.status);
    CHECK(r.json().find("resourceType")->text() == "OperationOutcome");
    if (c.status == 401) CHECK(r.wwwAuthenticate.starts_with("Bearer"));
  }
  // The token never appears in the reply or the log.
  HttpReply r = f.request("POST", "/records", "not-a-token", record);
  CHECK(r.body.find("not-a-token") == std::string::npos);
  CHECK(f.stopAndLog().find("not-a-token") == std::string::npos);
}

TEST_CASE("POST /records/$batch: per-line results, bad lines refused, good ones stored",
          "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string a = withMember(exampleRecord(kPainNrs), "recordId", Json::string("B-1"));
  const std::string b = withMember(exampleRecord(kPainNrs), "measure", Json::string("pain-vas"));
  const std::string c = exampleRecord("measurement-blood-pressure.json");
  const std::string d = exampleRecord("care-plan-functional-restoration.json");
  // Compact each record onto one line.
  auto line = [](const std::string& s) {
    return inloop::fhir::writeJson(*inloop::fhir::parseJson(s));
  };
  const std::string ndjson = line(a) + "\n" + line(b) + "\n\n" + line(c) + "\r\n" + line(d) + "\n";

  HttpReply r = f.request("POST", "/records/$batch", kIngestToken, ndjson, "application/x-ndjson");
  INFO(r.body);
  REQUIRE(r.status == 200);
  Json reply = r.json();
  CHECK(reply.find("accepted")->text() == "3");
  CHECK(reply.find("rejected")->text() == "1");
  const auto& results = reply.find("results")->items();
  REQUIRE(results.size() == 4);
  CHECK(results[0].find("line")->text() == "1");
  CHECK(results[0].find("status")->text() == "accepted");
  CHECK(results[1].find("status")->text() == "invalid");
  CHECK(
      results[1].find("issues")->items()[0].find("path")->text().starts_with("line 2: $.measure"));
  CHECK(results[2].find("line")->text() == "4");  // the blank line still counts
  CHECK(results[2].find("status")->text() == "accepted");
  CHECK(results[3].find("line")->text() == "5");
  CHECK(results[3].find("status")->text() == "accepted");

  CHECK(f.request("GET", "/records/B-1", kReadToken).status == 200);
  const std::string bpId = inloop::fhir::parseJson(c).value().find("recordId")->text();
  CHECK(f.request("GET", "/records/" + bpId, kReadToken).status == 200);

  // The same batch again: every good line is a replay with its receipt.
  HttpReply again =
      f.request("POST", "/records/$batch", kIngestToken, ndjson, "application/x-ndjson");
  const Json againJson = again.json();
  const auto& again0 = againJson.find("results")->items()[0];
  CHECK(again0.find("status")->text() == "replay");
  CHECK(again0.find("receiptId")->text() == results[0].find("receiptId")->text());

  // Wrong media type, and more lines than allowed.
  CHECK(f.request("POST", "/records/$batch", kIngestToken, ndjson, "application/json").status ==
        415);
}

TEST_CASE("batch size limit answers 413 and stores nothing", "[gateway][server]") {
  DaemonFixture f([](inloop::gateway::DaemonConfig& c) { c.limits.maxBatchRecords = 2; });
  REQUIRE(f.startError() == "");
  auto line = [](const std::string& id) {
    return withMember(exampleRecord(kPainNrs), "recordId", Json::string(id)) + "\n";
  };
  HttpReply r = f.request("POST", "/records/$batch", kIngestToken,
                          line("L-1") + line("L-2") + line("L-3"), "application/x-ndjson");
  CHECK(r.status == 413);
  CHECK(f.request("GET", "/records/L-1", kReadToken).status == 404);
}

TEST_CASE("overload answers 503 with Retry-After", "[gateway][server]") {
  DaemonFixture f([](inloop::gateway::DaemonConfig& c) {
    c.limits.maxInFlight = 1;
    c.limits.retryAfterSeconds = 7;
  });
  REQUIRE(f.startError() == "");
  // Hold one request in flight: its handler exists once the server answered
  // `100 Continue`, and it waits for a body that has not been sent.
  Poco::Net::StreamSocket held(Poco::Net::SocketAddress("127.0.0.1", f.port()));
  const std::string head = std::string("POST /records HTTP/1.1\r\nHost: localhost\r\n") +
                           "Authorization: Bearer " + kIngestToken + "\r\n" +
                           "Content-Type: application/json\r\nContent-Length: 100\r\n" +
                           "Expect: 100-continue\r\n\r\n";
  held.sendBytes(head.data(), static_cast<int>(head.size()));
  std::string got;
  char buf[256];
  while (got.find("\r\n\r\n") == std::string::npos) {
    int n = held.receiveBytes(buf, sizeof buf);
    REQUIRE(n > 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  REQUIRE(got.starts_with("HTTP/1.1 100"));

  HttpReply busy = f.request("GET", "/healthz");
  CHECK(busy.status == 503);
  CHECK(busy.retryAfter == "7");
  held.close();
}

TEST_CASE("GET /metrics: Prometheus text with requests, records and store gauges",
          "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  REQUIRE(f.request("POST", "/records", kIngestToken, exampleRecord(kPainNrs)).status == 202);
  REQUIRE(f.request("POST", "/records", kIngestToken, "nope").status == 400);
  HttpReply m = f.request("GET", "/metrics", kReadToken);
  INFO(m.body);
  REQUIRE(m.status == 200);
  CHECK(m.contentType.starts_with("text/plain; version=0.0.4"));
  CHECK(m.body.find("inloop_http_requests_total{route=\"/records\",status=\"202\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("inloop_http_requests_total{route=\"/records\",status=\"400\"} 1") !=
        std::string::npos);
  CHECK(m.body.find(
            "inloop_http_request_duration_seconds_bucket{route=\"/records\",le=\"+Inf\"} 2") !=
        std::string::npos);
  CHECK(m.body.find("inloop_records_total{type=\"measurement\",outcome=\"accepted\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("inloop_records_total{type=\"unknown\",outcome=\"malformed\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("inloop_store_records{type=\"measurement\"} 1") != std::string::npos);
  CHECK(m.body.find("inloop_store_outbox{state=\"unroutable\"} 1") != std::string::npos);
  CHECK(m.body.find("inloop_ready 1") != std::string::npos);
}

TEST_CASE("metrics can be opened without a token", "[gateway][server]") {
  DaemonFixture f([](inloop::gateway::DaemonConfig& c) { c.metricsRequireAuth = false; });
  REQUIRE(f.startError() == "");
  CHECK(f.request("GET", "/metrics").status == 200);
}

TEST_CASE("POST /admin/reload: good tables swap in, bad ones are rejected and the old serve",
          "[gateway][server]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  HttpReply ok = f.request("POST", "/admin/reload", kAdminToken, "");
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(ok.json().find("status")->text() == "reloaded");

  // Break measures.json (unknown field): the reload is refused with the issue.
  const auto measures = f.mappingsDir() / "measures.json";
  std::string text = inloop::server_testing::readFile(measures);
  inloop::server_testing::writeFile(measures, "{\"bogus\": 1,\n" + text.substr(text.find('{') + 1));
  HttpReply bad = f.request("POST", "/admin/reload", kAdminToken, "");
  INFO(bad.body);
  CHECK(bad.status == 422);
  CHECK(bad.json().find("resourceType")->text() == "OperationOutcome");
  CHECK(bad.body.find("measures.json") != std::string::npos);

  // The old tables keep serving.
  CHECK(f.request("GET", "/readyz").status == 200);
  CHECK(f.request("POST", "/records", kIngestToken, exampleRecord(kPainNrs)).status == 202);

  // Reloads are reported in the log without patient data.
  std::string log = f.stopAndLog();
  CHECK(log.find("\"event\":\"mappings-rejected\"") != std::string::npos);
  CHECK(log.find("\"event\":\"request\"") != std::string::npos);
  CHECK(log.find("Alvarez") == std::string::npos);
  CHECK(log.find("1961-04-02") == std::string::npos);
  CHECK(log.find("PC-448812") == std::string::npos);
}

TEST_CASE("a daemon with invalid mapping tables does not start", "[gateway][server]") {
  inloop::server_testing::TempDir tmp;
  inloop::gateway::DaemonConfig c;
  c.port = 0;
  c.dataDir = (tmp.path() / "data").string();
  c.mappingsDir = (tmp.path() / "no-such-dir").string();
  std::ostringstream log;
  auto d = inloop::gateway::Daemon::start(c, log);
  REQUIRE_FALSE(d.isOk());
  CHECK(d.status().message().find("no-such-dir") != std::string::npos);
}

TEST_CASE("one serve process per data directory: a second daemon is refused until the first stops",
          "[gateway][server]") {
  inloop::server_testing::TempDir tmp;
  inloop::gateway::DaemonConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.dataDir = (tmp.path() / "data").string();
  c.mappingsDir = (std::filesystem::path(INLOOP_SOURCE_DIR) / "config/mappings").string();
  std::ostringstream log1;
  auto first = inloop::gateway::Daemon::start(c, log1);
  INFO((first.isOk() ? std::string() : first.status().message()));
  REQUIRE(first.isOk());
  std::ostringstream log2;
  auto second = inloop::gateway::Daemon::start(c, log2);
  REQUIRE_FALSE(second.isOk());
  CHECK(second.status().code() == inloop::fhir::ErrorCode::kConflict);
  CHECK(second.status().message().find("another inloop serve (pid ") != std::string::npos);
  CHECK(second.status().message().find(c.dataDir) != std::string::npos);
  (*first)->stop();
  auto third = inloop::gateway::Daemon::start(c, log2);
  INFO((third.isOk() ? std::string() : third.status().message()));
  CHECK(third.isOk());
}

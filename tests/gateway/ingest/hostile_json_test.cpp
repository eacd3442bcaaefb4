// Hostile input over real HTTP (issue 8 item 3), part 2: attacks on the JSON
// reader (deep nesting, invalid UTF-8, lone surrogates, duplicate keys, huge
// numbers, BOM, NUL bytes, trailing garbage, empty body) posted to the daemon
// in-process on port 0, one at a time and as batch lines. Each is a clean 4xx
// with an OperationOutcome that says what is wrong; nothing is stored; the
// server stays up.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/hostile_corpus.h"
#include "tests/gateway/support/hostile_support.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::hostile_testing::HostileCase;
using inloop::hostile_testing::isOperationOutcome;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;

bool statusMatches(int got, int want) {
  return want == 0 ? (got >= 400 && got < 500) : got == want;
}

// The first issue's diagnostics (empty when there is none).
std::string diagnostics(const HttpReply& r) {
  const Json doc = r.json();
  const Json* issues = doc.find("issue");
  if (issues == nullptr || issues->items().empty()) return {};
  const Json* d = issues->items()[0].find("diagnostics");
  return d != nullptr ? d->text() : std::string();
}

}  // namespace

TEST_CASE("JSON attacks on POST /records are clean 4xx OperationOutcomes", "[gateway][hostile]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::vector<HostileCase> corpus = inloop::hostile_testing::jsonAttackCorpus();
  REQUIRE(corpus.size() > 30);
  for (const HostileCase& c : corpus) {
    INFO(c.name);
    HttpReply r = f.request("POST", "/records", kIngestToken, c.body);
    INFO("status " << r.status << ": " << r.body.substr(0, 1000));
    CHECK(statusMatches(r.status, c.status));
    CHECK(isOperationOutcome(r));
    // A precise message: it says what is wrong, not just "error".
    CHECK(diagnostics(r).size() > 10);
  }
  // The pain NRS example was the base of most attacks: not stored.
  CHECK(f.request("GET", "/records/M-2026-118834", kReadToken).status == 404);
  CHECK(f.request("GET", "/healthz").status == 200);
}

TEST_CASE("JSON attacks as NDJSON batch lines are refused line by line", "[gateway][hostile]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  std::string batch;
  std::vector<const HostileCase*> lines;
  const std::vector<HostileCase> corpus = inloop::hostile_testing::jsonAttackCorpus();
  for (const HostileCase& c : corpus) {
    // One case per line: bodies with their own line breaks or no content do not fit.
    if (c.body.find_first_of("\r\n") != std::string::npos) continue;
    if (c.body.find_first_not_of(" \t") == std::string::npos) continue;
    batch += c.body + "\n";
    lines.push_back(&c);
  }
  REQUIRE(lines.size() > 25);
  HttpReply r = f.request("POST", "/records/$batch", kIngestToken, batch, "application/x-ndjson");
  INFO(r.body.substr(0, 2000));
  // Lines are split on line feeds only: every attack is refused on its own line.
  REQUIRE(r.status == 200);
  const Json reply = r.json();
  CHECK(reply.find("accepted")->text() == "0");
  const auto& results = reply.find("results")->items();
  REQUIRE(results.size() == lines.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO(lines[i]->name << ": " << inloop::fhir::writeJson(results[i]));
    CHECK(statusMatches(std::stoi(results[i].find("httpStatus")->text()), lines[i]->status));
  }
  CHECK(f.request("GET", "/records/M-2026-118834", kReadToken).status == 404);
  CHECK(f.request("GET", "/healthz").status == 200);
}

// Hostile input over real HTTP (issue 8 item 3), part 1: the record-rule corpus
// generated from the record format (tests/gateway/support/hostile_corpus.h), every rule
// broken once, posted to the daemon in-process on port 0. Each case gets its 4xx
// with an OperationOutcome naming the broken element's JSON path, and nothing
// of any case is stored.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "tests/gateway/support/hostile_corpus.h"
#include "tests/gateway/support/hostile_support.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::hostile_testing::exampleNames;
using inloop::hostile_testing::HostileCase;
using inloop::hostile_testing::isOperationOutcome;
using inloop::hostile_testing::outcomeNames;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;

std::string recordIdOf(const std::string& example) {
  return inloop::fhir::parseJson(exampleRecord(example))->find("recordId")->text();
}

// After a corpus: no example's id is stored, and each valid example is then
// accepted as new (202, not a replay or conflict with something stored).
void checkNothingStored(DaemonFixture& f) {
  for (const std::string& name : exampleNames()) {
    INFO(name);
    CHECK(f.request("GET", "/records/" + recordIdOf(name), kReadToken).status == 404);
  }
  for (const std::string& name : exampleNames()) {
    INFO(name);
    CHECK(f.request("POST", "/records", kIngestToken, exampleRecord(name)).status == 202);
  }
  CHECK(f.request("GET", "/healthz").status == 200);
}

}  // namespace

TEST_CASE("record-rule corpus: every rule broken once is a 4xx naming its path, none stored",
          "[gateway][hostile]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::vector<HostileCase> corpus = inloop::hostile_testing::recordRuleCorpus();
  // The generator reaches every kind of rule.
  REQUIRE(corpus.size() > 400);
  std::size_t failures = 0;
  for (const HostileCase& c : corpus) {
    INFO(c.name);
    HttpReply r = f.request("POST", "/records", kIngestToken, c.body);
    INFO("status " << r.status << ": " << r.body.substr(0, 2000));
    const bool ok = r.status == c.status && isOperationOutcome(r) &&
                    (c.path.empty() || outcomeNames(r, c.path));
    CHECK(ok);
    if (!ok) ++failures;
  }
  CHECK(failures == 0);
  checkNothingStored(f);
}

TEST_CASE("record-rule corpus through the batch route: each line refused, none stored",
          "[gateway][hostile]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  std::string batch;
  std::vector<const HostileCase*> lines;
  const std::vector<HostileCase> corpus = inloop::hostile_testing::recordRuleCorpus();
  for (const HostileCase& c : corpus) {
    batch += c.body + "\n";
    lines.push_back(&c);
  }
  // 1 MiB strings: each example with a 1 MiB note is refused as too large.
  for (const std::string& name : exampleNames()) {
    Json doc = *inloop::fhir::parseJson(exampleRecord(name));
    doc.set("note", Json::string(std::string(1u << 20, 'n')));
    batch += inloop::fhir::writeJson(doc) + "\n";
  }
  HttpReply r = f.request("POST", "/records/$batch", kIngestToken, batch, "application/x-ndjson");
  REQUIRE(r.status == 200);
  const Json reply = r.json();
  CHECK(reply.find("accepted")->text() == "0");
  const auto& results = reply.find("results")->items();
  REQUIRE(results.size() == lines.size() + exampleNames().size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO((i < lines.size() ? lines[i]->name : "1 MiB note")
         << ": " << inloop::fhir::writeJson(results[i]));
    const int want = i < lines.size() ? lines[i]->status : 413;
    const std::string http = results[i].find("httpStatus")->text();
    CHECK(http == std::to_string(want));
  }
  checkNothingStored(f);
}

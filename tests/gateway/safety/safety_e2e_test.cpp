// End-to-end: a safety notice reaches a REAL, validating FHIR R4 server
// (tests/peers/fhir-server.mjs, Medplum's router) through the daemon's ordered,
// retried delivery, and is read back: once, valid, with its text; a receiver
// that refuses Communication gets the notice as a note on the
// MedicationStatement. Skipped with a WARN only when `node` is not installed.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fhir/validator.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/safety_records.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::server_testing::allDelivered;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kAdminToken;

// The first identifier of the stored translation's first Communication, as a
// search parameter value "system%7Cvalue" ("" when there is none).
std::string noticeIdentifierQuery(DaemonFixture& d, const std::string& recordId) {
  const Json view = d.request("GET", "/records/" + recordId, kAdminToken).json();
  const Json* entries =
      view.find("translation") ? view.find("translation")->find("entry") : nullptr;
  if (entries == nullptr) return "";
  for (const Json& e : entries->items()) {
    const Json* res = e.find("resource");
    if (res == nullptr || res->find("resourceType")->text() != "Communication") continue;
    const Json& id = res->find("identifier")->items()[0];
    return id.find("system")->text() + "%7C" + id.find("value")->text();
  }
  return "";
}

std::string jsonText(const Json& resource) { return inloop::fhir::writeJson(resource); }

// Daemon settings: every practice delivers to `server`, with short retries.
std::function<void(inloop::gateway::DaemonConfig&)> routingEverythingTo(
    const inloop::testing::FhirServerPeer& server) {
  return [&server](inloop::gateway::DaemonConfig& c) {
    c.routeFlags = {"*=fhir-transaction:" + server.base()};
    c.delivery.backoffBaseMs = 20;
    c.delivery.backoffCapMs = 200;
  };
}

// A FHIR server peer (started with `serverArgs`) as every practice's
// destination, and the duloxetine start posted and delivered to it.
struct DeliveredDuloxetine {
  explicit DeliveredDuloxetine(std::vector<std::string> serverArgs)
      : server(std::move(serverArgs)), daemon(routingEverythingTo(server)) {
    REQUIRE_FALSE(server.base().empty());
    REQUIRE(daemon.startError().empty());
    REQUIRE(daemon
                .request("POST", "/records", kAdminToken,
                         exampleRecord("medication-start-duloxetine.json"))
                .status == 202);
    const bool done = waitUntil(
        daemon.changes(), [&] { return allDelivered(daemon, "RX-2026-5521"); }, 60);
    INFO(daemon.request("GET", "/deliveries?recordId=RX-2026-5521", kAdminToken).body);
    REQUIRE(done);
  }
  inloop::testing::FhirServerPeer server;
  DaemonFixture daemon;
};

}  // namespace

TEST_CASE("a safety notice lands on a real FHIR server as a valid Communication",
          "[gateway][safety][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end safety test")) return;
  DeliveredDuloxetine d({"--fail-first", "1:503"});
  const std::string query = noticeIdentifierQuery(d.daemon, "RX-2026-5521");
  REQUIRE_FALSE(query.empty());
  int status = 0;
  Json found = d.server.get("Communication?identifier=" + query, &status);
  REQUIRE(status == 200);
  std::vector<Json> comms = inloop::testing::bundleResources(found);
  REQUIRE(comms.size() == 1);
  inloop::fhir::Issues issues = inloop::fhir::validateResource(comms[0]);
  INFO(inloop::fhir::formatIssues(issues));
  CHECK_FALSE(inloop::fhir::hasErrors(issues));
  CHECK(jsonText(comms[0]).find("may raise blood pressure") != std::string::npos);
  CHECK(comms[0].find("subject") != nullptr);
  // The MedicationStatement it is about is there too (same transaction).
  Json statements = d.server.get("MedicationStatement", &status);
  CHECK(inloop::testing::bundleResources(statements).size() == 1);
}

TEST_CASE("a FHIR server refusing Communication gets the notice as a note",
          "[gateway][safety][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end safety test")) return;
  DeliveredDuloxetine d({"--reject-types", "Communication"});
  int status = 0;
  CHECK(inloop::testing::bundleResources(d.server.get("Communication", &status)).empty());
  std::vector<Json> statements =
      inloop::testing::bundleResources(d.server.get("MedicationStatement", &status));
  REQUIRE(statements.size() == 1);
  CHECK(jsonText(statements[0])
            .find("ATTENTION (inloop safety notice, routine): Patient: Maria Elena Alvarez") !=
        std::string::npos);
}

namespace {

using inloop::safety_testing::medicationChange;
using inloop::safety_testing::perDay;
using inloop::safety_testing::quantity;

Json taperOf(std::int64_t step) {
  Json t = Json::object();
  t.set("step", Json::number(step));
  t.set("of", Json::number(std::int64_t{6}));
  t.set("targetDailyMme", Json::number(std::int64_t{30}));
  return t;
}

// The records of one patient, posted in order; the notices of the last one,
// as the FHIR server holds them, are checked.
struct Scenario {
  const char* name;
  std::vector<std::string> records;
  std::string recordId;               // of the last record
  std::int64_t version;               // of the last record
  std::vector<std::string> expected;  // "rule/priority", in Bundle order
  std::string rule;                   // the notice whose text is checked
  std::vector<std::string> inText;
  std::vector<std::string> notInText;
};

std::vector<Scenario> scenarios() {
  const std::string example = exampleRecord("medication-taper-oxycodone.json");
  auto oxy = [](const char* mrn, std::int64_t version, const char* action, const char* dose,
                std::initializer_list<std::pair<const char*, Json>> more = {}) {
    // One oxycodone order per patient: record id "RX-" + mrn.
    std::string r = medicationChange(mrn, ("RX-" + std::string(mrn)).c_str(), version, action,
                                     "oxycodone-er", version == 1 ? "2026-09-01" : "2026-10-01",
                                     {{"dose", quantity(dose, "mg")}, {"frequency", perDay(2)}});
    Json doc = *inloop::fhir::parseJson(r);
    for (const auto& [key, value] : more) doc.set(key, value);
    return inloop::fhir::writeJson(doc);
  };
  const std::string gabapentin =
      medicationChange("PC-800003", "RX-E-GAB", 1, "start", "gabapentin", "2026-09-05",
                       {{"dose", quantity("300", "mg")}, {"frequency", perDay(3)}});
  return {
      {"first-seen taper (the shipped example): no crossing claimed",
       {example},
       "RX-2026-4410",
       3,
       {"taper-step/routine"},
       "taper-step",
       {"taper step 2 of 6 on 2026-10-15: 40 mg twice daily to 30 mg twice daily"},
       {"rose from", "URGENT"}},
      {"first-seen dose increase: the crossing computed from previousDose",
       {oxy("PC-800002", 2, "dose-change", "40", {{"previousDose", quantity("20", "mg")}})},
       "RX-PC-800002",
       2,
       {"managed-effect/routine", "mme-threshold/urgent"},
       "mme-threshold",
       {"rose from 60 to 120 MME/day on 2026-10-01, crossing 90 MME/day"},
       {"from 0 "}},
      {"zolpidem by continue joins oxycodone + gabapentin: urgent, names zolpidem",
       {oxy("PC-800003", 1, "start", "20"), gabapentin,
        medicationChange("PC-800003", "RX-E-ZOL", 1, "continue", "zolpidem", "2026-10-01",
                         {{"dose", quantity("10", "mg")}, {"frequency", perDay(1)}})},
       "RX-E-ZOL",
       1,
       {"opioid-sedative/urgent"},
       "opioid-sedative",
       {"URGENT: Zolpidem 10 mg once daily (a reconciled outside medication", "joined",
        "Gabapentin 300 mg 3 times daily"},
       {}},
      {"continue of a drug already on the list: silent",
       {oxy("PC-800004", 1, "start", "20"), oxy("PC-800004", 2, "continue", "20")},
       "RX-PC-800004",
       2,
       {},
       "",
       {},
       {}},
      {"taper step crossing 90 downward: routine, fell below",
       {oxy("PC-800005", 1, "start", "40", {{"dailyMme", Json::number(std::int64_t{120})}}),
        oxy("PC-800005", 2, "taper-step", "25",
            {{"previousDose", quantity("40", "mg")},
             {"dailyMme", Json::number(std::int64_t{75})},
             {"taper", taperOf(1)}})},
       "RX-PC-800005",
       2,
       {"mme-threshold/routine", "taper-step/routine"},
       "mme-threshold",
       {"fell from 120 to 75 MME/day on 2026-10-01, below 90 MME/day"},
       {}},
  };
}

}  // namespace

TEST_CASE("safety scenarios reach a real FHIR server: baselines and growing combinations",
          "[gateway][safety][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end safety test")) return;
  inloop::testing::FhirServerPeer server;
  REQUIRE_FALSE(server.base().empty());
  DaemonFixture daemon(routingEverythingTo(server));
  REQUIRE(daemon.startError().empty());
  for (const Scenario& s : scenarios()) {
    INFO(s.name);
    for (const std::string& r : s.records) {
      HttpReply reply = daemon.request("POST", "/records", kAdminToken, r);
      INFO(reply.body);
      REQUIRE(reply.status == 202);
    }
    const bool done = waitUntil(
        daemon.changes(), [&] { return allDelivered(daemon, s.recordId); }, 60);
    REQUIRE(done);
    // The server's Communications about this version of the record.
    int status = 0;
    Json found = server.get("Communication?_count=1000", &status);
    REQUIRE(status == 200);
    const std::string prefix = "notice/" + s.recordId + "/v" + std::to_string(s.version) + "/";
    std::vector<std::string> got;
    std::string text;
    for (const Json& c : inloop::testing::bundleResources(found)) {
      const std::string id = c.find("identifier")->items()[0].find("value")->text();
      if (!id.starts_with(prefix)) continue;
      const std::string rule = id.substr(prefix.size());
      got.push_back(rule + "/" + c.find("priority")->text());
      if (rule == s.rule) text = c.find("payload")->items()[0].find("contentString")->text();
      inloop::fhir::Issues issues = inloop::fhir::validateResource(c);
      INFO(inloop::fhir::formatIssues(issues));
      CHECK_FALSE(inloop::fhir::hasErrors(issues));
    }
    std::sort(got.begin(), got.end());
    std::vector<std::string> expected = s.expected;
    std::sort(expected.begin(), expected.end());
    CHECK(got == expected);
    INFO(text);
    for (const std::string& t : s.inText) CHECK(text.find(t) != std::string::npos);
    for (const std::string& t : s.notInText) CHECK(text.find(t) == std::string::npos);
  }
}

namespace {

// The resource a server-side reference ("Organization/123") names.
Json resolve(const inloop::testing::FhirServerPeer& server, const Json* reference) {
  REQUIRE(reference != nullptr);
  const Json* ref = reference->find("reference");
  REQUIRE(ref != nullptr);
  INFO(ref->text());
  CHECK_FALSE(ref->text().starts_with("urn:uuid:"));
  int status = 0;
  Json found = server.get(ref->text(), &status);
  CHECK(status == 200);
  return found;
}

}  // namespace

TEST_CASE(
    "who to call: the pain center's Organization reaches the FHIR server, notices and plans "
    "name it, a practice's own line changes the number",
    "[gateway][safety][e2e]") {
  if (!inloop::testing::peersAvailable("end-to-end safety test")) return;
  struct Row {
    const char* name;
    const char* practiceContact;  // riverside-family-medicine's "contact", or nullptr
    std::string centerLine;       // how the notice gives the center
  };
  const Row rows[] = {
      {"the center's numbers", nullptr,
       "or Example Pain Management Center at 555-0100 (fax 555-0101, Direct "
       "referrals@direct.paincenter.example.org, secure e-mail "
       "referrals@paincenter.example.org)."},
      {"a dedicated line for the practice's patients", R"({"phone": "555-0177"})",
       "or Example Pain Management Center at 555-0177 (fax 555-0101, Direct "
       "referrals@direct.paincenter.example.org, secure e-mail "
       "referrals@paincenter.example.org)."},
  };
  for (const Row& row : rows) {
    SECTION(row.name) {
      inloop::testing::FhirServerPeer server;
      REQUIRE_FALSE(server.base().empty());
      auto route = routingEverythingTo(server);
      DaemonFixture daemon([&](inloop::gateway::DaemonConfig& c) {
        route(c);
        if (row.practiceContact == nullptr) return;
        const std::string file = c.mappingsDir + "/practices.json";
        std::string text = inloop::server_testing::readFile(file);
        const std::string from = "\"practices\": []";
        REQUIRE(text.find(from) != std::string::npos);
        text.replace(text.find(from), from.size(),
                     std::string("\"practices\": [{\"practiceId\": \"riverside-family-medicine\", "
                                 "\"contact\": ") +
                         row.practiceContact + "}]");
        inloop::server_testing::writeFile(file, text);
      });
      REQUIRE(daemon.startError().empty());
      for (const char* name :
           {"medication-start-duloxetine.json", "care-plan-functional-restoration.json"}) {
        REQUIRE(daemon.request("POST", "/records", kAdminToken, exampleRecord(name)).status == 202);
      }
      const bool done = waitUntil(
          daemon.changes(),
          [&] {
            return allDelivered(daemon, "RX-2026-5521") && allDelivered(daemon, "CP-2026-0412");
          },
          60);
      REQUIRE(done);

      // One Organization, with its NPI, numbers and address.
      int status = 0;
      std::vector<Json> orgs = inloop::testing::bundleResources(server.get(
          "Organization?identifier=http://hl7.org/fhir/sid/us-npi%7C1498712045", &status));
      REQUIRE(orgs.size() == 1);
      CHECK(inloop::testing::bundleResources(server.get("Organization")).size() == 1);
      const std::string org = jsonText(orgs[0]);
      for (const char* part : {"\"name\":\"Example Pain Management Center\"",
                               "\"system\":\"phone\",\"value\":\"555-0100\"",
                               "\"system\":\"fax\",\"value\":\"555-0101\"",
                               "\"value\":\"referrals@direct.paincenter.example.org\"",
                               "\"city\":\"Springfield\"", "\"postalCode\":\"62701\""}) {
        INFO(org);
        CHECK(org.find(part) != std::string::npos);
      }
      CHECK_FALSE(inloop::fhir::hasErrors(inloop::fhir::validateResource(orgs[0])));
      const std::string orgId = orgs[0].find("id")->text();

      // The notice's sender and the plan's author resolve to it.
      std::vector<Json> comms = inloop::testing::bundleResources(server.get(
          "Communication?identifier=" + noticeIdentifierQuery(daemon, "RX-2026-5521"), &status));
      REQUIRE(comms.size() == 1);
      CHECK(resolve(server, comms[0].find("sender")).find("id")->text() == orgId);
      std::vector<Json> plans = inloop::testing::bundleResources(server.get("CarePlan", &status));
      REQUIRE(plans.size() == 1);
      CHECK(resolve(server, plans[0].find("author")).find("id")->text() == orgId);

      // The notice names the prescriber, their line and the center's number.
      const std::string text = comms[0].find("payload")->items()[0].find("contentString")->text();
      INFO(text);
      CHECK(text.ends_with(" Questions: call Dr. Priya Raman (physician) at 555-0142, " +
                           row.centerLine));
      CHECK(jsonText(plans[0]).find("call Dr. Priya Raman (physician) at 555-0142, " +
                                    row.centerLine.substr(0, row.centerLine.size() - 1)) !=
            std::string::npos);
    }
  }
}

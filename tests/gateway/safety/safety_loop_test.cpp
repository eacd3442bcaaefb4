// The safety loop through the real daemon (in process, port 0): the article's
// scenarios posted as plan records built from the shipped examples, notices
// read back from GET /records/{id}, every Communication of the stored Bundle
// checked with the FHIR validator.

#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/validator.h"
#include "tests/gateway/support/safety_records.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::safety_testing::medicationChange;
using inloop::safety_testing::perDay;
using inloop::safety_testing::quantity;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;

Json num(std::int64_t v) { return Json::number(v); }
Json text(const char* s) { return Json::string(s); }

Json parse(const std::string& s) { return *inloop::fhir::parseJson(s); }

struct Posted {
  int status = 0;
  Json view;  // GET /records/{id} after the post
};

Posted post(DaemonFixture& f, const std::string& record) {
  HttpReply r = f.request("POST", "/records", kIngestToken, record);
  INFO(r.body);
  Posted p;
  p.status = r.status;
  const std::string id = parse(record).find("recordId")->text();
  HttpReply got = f.request("GET", "/records/" + id, kReadToken);
  REQUIRE(got.status == 200);
  p.view = got.json();
  return p;
}

// The notices of one version in a record view: "rule/priority" each.
std::vector<std::string> noticesOf(const Json& view, std::int64_t version) {
  std::vector<std::string> out;
  for (const Json& n : view.find("notices")->items()) {
    if (n.find("version")->toInt64() != version) continue;
    out.push_back(n.find("rule")->text() + "/" + n.find("priority")->text());
  }
  return out;
}

std::string noticeText(const Json& view, const std::string& rule) {
  for (const Json& n : view.find("notices")->items()) {
    if (n.find("rule")->text() == rule) return n.find("text")->text();
  }
  return "";
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const std::string& x : v) {
    if (x == s) return true;
  }
  return false;
}

// The Communications of the view's stored translation; each must be valid FHIR.
std::vector<Json> communications(const Json& view) {
  std::vector<Json> out;
  const Json* entries = view.find("translation")->find("entry");
  for (const Json& e : entries->items()) {
    const Json* res = e.find("resource");
    if (res->find("resourceType")->text() != "Communication") continue;
    inloop::fhir::Issues issues = inloop::fhir::validateResource(*res);
    INFO(inloop::fhir::formatIssues(issues));
    CHECK_FALSE(inloop::fhir::hasErrors(issues));
    out.push_back(*res);
  }
  return out;
}

std::string payloadOf(const Json& communication) {
  return communication.find("payload")->items()[0].find("contentString")->text();
}

}  // namespace

TEST_CASE("safety loop: duloxetine start sends a blood-pressure notice, a replay none",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string record = exampleRecord("medication-start-duloxetine.json");
  Posted p = post(f, record);
  REQUIRE(p.status == 202);
  INFO(writeJson(*p.view.find("notices")));
  CHECK(noticesOf(p.view, 1) == std::vector<std::string>{"managed-effect/routine"});
  CHECK(noticeText(p.view, "managed-effect").find("blood pressure") != std::string::npos);

  std::vector<Json> comms = communications(p.view);
  REQUIRE(comms.size() == 1);
  // Sent: the patient first, then the notice text (the view has no name),
  // then whom to call.
  CHECK(payloadOf(comms[0]) ==
        "Patient: Maria Elena Alvarez, born 1961-04-02, practice patient id RFM-99231. " +
            noticeText(p.view, "managed-effect") +
            " Questions: call Dr. Priya Raman (physician) at 555-0142, or Example Pain "
            "Management Center at 555-0100 (fax 555-0101, Direct "
            "referrals@direct.paincenter.example.org, secure e-mail "
            "referrals@paincenter.example.org).");
  CHECK(noticeText(p.view, "managed-effect").find("Questions") == std::string::npos);
  CHECK(noticeText(p.view, "managed-effect").find("Alvarez") == std::string::npos);
  CHECK(comms[0].find("priority")->text() == "routine");
  CHECK(comms[0].find("status")->text() == "completed");
  // The Provenance stays last and names the notice.
  const Json& last = p.view.find("translation")->find("entry")->items().back();
  CHECK(last.find("resource")->find("resourceType")->text() == "Provenance");

  // A replay: the original receipt, no second notice, the same translation.
  const std::string translation = writeJson(*p.view.find("translation"));
  Posted replay = post(f, record);
  CHECK(replay.status == 200);
  CHECK(replay.view.find("notices")->size() == 1);
  CHECK(writeJson(*replay.view.find("translation")) == translation);
}

TEST_CASE("safety loop: 120 MME with zolpidem and clonazepam, then a taper and the stops",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string mrn = "PC-700001";
  auto oxy = [&](std::int64_t version, const char* action, const char* dose, const char* previous,
                 std::int64_t mme, std::int64_t step, const char* date) {
    Json taper = Json::object();
    taper.set("step", num(step));
    taper.set("of", num(6));
    taper.set("targetDailyMme", num(30));
    taper.set("nextStepOn", text("2026-12-01"));
    std::string r = medicationChange(
        mrn, "RX-T-OXY", version, action, "oxycodone-er", date,
        {{"dose", quantity(dose, "mg")}, {"frequency", perDay(2)}, {"dailyMme", num(mme)}});
    if (step == 0) return r;
    Json doc = parse(r);
    doc.set("previousDose", quantity(previous, "mg"));
    doc.set("taper", std::move(taper));
    return inloop::fhir::writeJson(doc);
  };

  // 120 MME/day: crossing 50 and 90 upward is urgent.
  Posted start = post(f, oxy(1, "start", "40", "", 120, 0, "2026-09-01"));
  REQUIRE(start.status == 202);
  CHECK(contains(noticesOf(start.view, 1), "mme-threshold/urgent"));

  // Zolpidem, then clonazepam, with the opioid: urgent each time, naloxone named.
  Posted zolpidem =
      post(f, medicationChange(mrn, "RX-T-ZOL", 1, "start", "zolpidem", "2026-09-02",
                               {{"dose", quantity("10", "mg")}, {"frequency", perDay(1)}}));
  REQUIRE(zolpidem.status == 202);
  CHECK(contains(noticesOf(zolpidem.view, 1), "opioid-sedative/urgent"));
  CHECK(noticeText(zolpidem.view, "opioid-sedative").find("aloxone") != std::string::npos);
  Posted clonazepam =
      post(f, medicationChange(mrn, "RX-T-CLZ", 1, "start", "clonazepam", "2026-09-03",
                               {{"dose", quantity("0.5", "mg")}, {"frequency", perDay(2)}}));
  REQUIRE(clonazepam.status == 202);
  CHECK(contains(noticesOf(clonazepam.view, 1), "opioid-sedative/urgent"));
  for (const Json& c : communications(clonazepam.view)) {
    CHECK(c.find("priority")->text() == "urgent");
  }

  // Taper: a notice at every step; 120 -> 90 crosses nothing, 90 -> 75 crosses
  // 90 down, 75 -> 45 crosses 50 down.
  Posted step1 = post(f, oxy(2, "taper-step", "30", "40", 90, 1, "2026-10-01"));
  REQUIRE(step1.status == 202);
  CHECK(noticesOf(step1.view, 2) == std::vector<std::string>{"taper-step/routine"});
  Posted step2 = post(f, oxy(3, "taper-step", "25", "30", 75, 2, "2026-10-15"));
  REQUIRE(step2.status == 202);
  CHECK(contains(noticesOf(step2.view, 3), "taper-step/routine"));
  CHECK(contains(noticesOf(step2.view, 3), "mme-threshold/routine"));
  Posted step3 = post(f, oxy(4, "taper-step", "15", "25", 45, 3, "2026-11-01"));
  REQUIRE(step3.status == 202);
  CHECK(contains(noticesOf(step3.view, 4), "taper-step/routine"));
  CHECK(contains(noticesOf(step3.view, 4), "mme-threshold/routine"));
  std::string down;
  for (const Json& n : step3.view.find("notices")->items()) {
    if (n.find("version")->toInt64() == 4 && n.find("rule")->text() == "mme-threshold") {
      down = n.find("text")->text();
    }
  }
  CHECK(down.find("50") != std::string::npos);
  // The latest version carries its earlier versions' notices (same
  // identifiers), so a version superseded before delivery loses none.
  CHECK(communications(step3.view).size() == step3.view.find("notices")->size());

  // Stop zolpidem: clonazepam keeps the combination; stop clonazepam: ended.
  Posted stopZolpidem = post(f, medicationChange(mrn, "RX-T-ZOL", 2, "stop", "zolpidem",
                                                 "2026-11-10", {{"frequency", perDay(1)}}));
  REQUIRE(stopZolpidem.status == 202);
  CHECK_FALSE(contains(noticesOf(stopZolpidem.view, 2), "opioid-sedative-ended/routine"));
  Posted stopClonazepam = post(f, medicationChange(mrn, "RX-T-CLZ", 2, "stop", "clonazepam",
                                                   "2026-11-12", {{"frequency", perDay(2)}}));
  REQUIRE(stopClonazepam.status == 202);
  CHECK(contains(noticesOf(stopClonazepam.view, 2), "opioid-sedative-ended/routine"));
}

TEST_CASE("safety loop: gabapentin added to an opioid is urgent, also inside one batch",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string opioid =
      medicationChange("PC-700002", "RX-G-OXY", 1, "start", "oxycodone-er", "2026-09-01",
                       {{"dose", quantity("10", "mg")}, {"frequency", perDay(2)}});
  const std::string gabapentin =
      medicationChange("PC-700002", "RX-G-GAB", 1, "start", "gabapentin", "2026-09-05",
                       {{"dose", quantity("300", "mg")}, {"frequency", perDay(3)}});
  SECTION("one record at a time") {
    REQUIRE(post(f, opioid).status == 202);
    Posted added = post(f, gabapentin);
    REQUIRE(added.status == 202);
    CHECK(contains(noticesOf(added.view, 1), "opioid-sedative/urgent"));
  }
  SECTION("both in one batch: the second sees the first") {
    HttpReply r = f.request("POST", "/records/$batch", kIngestToken,
                            opioid + "\n" + gabapentin + "\n", "application/x-ndjson");
    INFO(r.body);
    REQUIRE(r.status == 200);
    HttpReply got = f.request("GET", "/records/RX-G-GAB", kReadToken);
    REQUIRE(got.status == 200);
    CHECK(contains(noticesOf(got.json(), 1), "opioid-sedative/urgent"));
  }
}

TEST_CASE("safety loop: epidural steroid for a patient whose plan lists diabetes",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  Json plan = parse(exampleRecord("care-plan-functional-restoration.json"));
  Json injection = Json::object();
  injection.set("activityId", text("A9"));
  injection.set("type", text("epidural-steroid-injection"));
  injection.set("status", text("scheduled"));
  injection.set("scheduled", text("2026-10-20T09:00:00-04:00"));
  plan.find("activities")->push(std::move(injection));
  Posted p = post(f, inloop::fhir::writeJson(plan));
  REQUIRE(p.status == 202);
  CHECK(noticesOf(p.view, 1) == std::vector<std::string>{"steroid-glucose/routine"});
  CHECK(noticeText(p.view, "steroid-glucose").find("2026-10-20") != std::string::npos);
  std::vector<Json> comms = communications(p.view);
  REQUIRE(comms.size() == 1);
  CHECK(comms[0].find("about")->items()[0].find("type")->text() == "CarePlan");

  // Without diabetes in the plan: nothing.
  Json other = parse(inloop::fhir::writeJson(plan));
  other.set("recordId", text("CP-NO-DM"));
  other.find("patient")->set("mrn", text("PC-700003"));
  Json conditions = Json::array();
  conditions.push(other.find("conditions")->items()[0]);
  other.set("conditions", std::move(conditions));
  Posted none = post(f, inloop::fhir::writeJson(other));
  REQUIRE(none.status == 202);
  CHECK(none.view.find("notices")->size() == 0);
  CHECK(communications(none.view).empty());
}

TEST_CASE("safety loop: entered-in-error sends a correcting notice", "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::string start = exampleRecord("medication-start-duloxetine.json");
  REQUIRE(post(f, start).status == 202);
  Json error = parse(start);
  error.set("version", num(2));
  error.set("action", text("entered-in-error"));
  error.erase("dose");
  Posted p = post(f, inloop::fhir::writeJson(error));
  REQUIRE(p.status == 202);
  CHECK(contains(noticesOf(p.view, 2), "correction/routine"));
  CHECK(noticeText(p.view, "correction").find("CORRECTION") == 0);
}

TEST_CASE("safety loop: an acetaminophen dose change sends no notice", "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  Posted start =
      post(f, medicationChange("PC-700004", "RX-APAP", 1, "start", "acetaminophen", "2026-09-01",
                               {{"dose", quantity("500", "mg")}, {"frequency", perDay(3)}}));
  REQUIRE(start.status == 202);
  Posted raise = post(
      f, medicationChange("PC-700004", "RX-APAP", 2, "dose-change", "acetaminophen", "2026-09-10",
                          {{"dose", quantity("1000", "mg")}, {"frequency", perDay(3)}}));
  REQUIRE(raise.status == 202);
  CHECK(raise.view.find("notices")->size() == 0);
  CHECK(communications(raise.view).empty());
}

TEST_CASE("safety loop: concurrent records of one patient lose no list update",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  const std::vector<const char*> drugs = {"acetaminophen", "duloxetine",  "gabapentin",
                                          "zolpidem",      "clonazepam",  "lorazepam",
                                          "alprazolam",    "oxycodone-er"};
  std::vector<int> statuses(drugs.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < drugs.size(); ++i) {
    threads.emplace_back([&, i] {
      const std::string id = "RX-C-" + std::to_string(i);
      statuses[i] =
          f.request("POST", "/records", kIngestToken,
                    medicationChange("PC-700005", id.c_str(), 1, "start", drugs[i], "2026-09-01",
                                     {{"dose", quantity("1", "mg")}, {"frequency", perDay(1)}}))
              .status;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int status : statuses) CHECK(status == 202);
  // Every start read the list the previous one wrote: all eight are on it.
  HttpReply summary = f.request("GET", "/patients/PC-700005/summary", kReadToken);
  INFO(summary.body);
  REQUIRE(summary.status == 200);
  CHECK(summary.json().find("medications")->size() == drugs.size());
}

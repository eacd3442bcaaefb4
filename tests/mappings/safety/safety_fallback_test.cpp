// Safety notices for destinations: a receiver that takes no Communication gets
// the notice as a note on the resource it is about (or nothing, when its
// fallback is "skip"); a receiver that needs MedicationRequest gets the
// stored notices with the record translated again.

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/forward/translate.h"
#include "mappings/safety/safety.h"
#include "mappings/shaping/destination.h"
#include "tests/support/mapping_fixtures.h"

using inloop::fhir::Json;
using namespace inloop::mappings;  // NOLINT: test file

namespace {

const MappingTables& tables() { return inloop::testing::shippedTables(); }

PlanRecord duloxetine() {
  return inloop::testing::readRecordFile(std::filesystem::path(INLOOP_SOURCE_DIR) /
                                         "examples/records/medication-start-duloxetine.json");
}

// The duloxetine start translated (as `as`) with its notice appended, as the
// pipeline stores it.
Json bundleWithNotice(const PlanRecord& record, MedicationAs as = MedicationAs::kStatement) {
  TranslateOptions options;
  options.medicationAs = as;
  TranslationResult t = translateRecord(record, tables(), options);
  REQUIRE(t.bundle.has_value());
  SafetyStep step = applyAndEvaluate(MedicationList{}, record, tables());
  REQUIRE(step.notices.size() == 1);
  REQUIRE(appendNoticeEntries(step.notices, record, tables(), &*t.bundle, as).isOk());
  return *t.bundle;
}

DestinationProfile destination(std::vector<std::string> accepts) {
  DestinationProfile d;
  d.id = "no-comm";
  d.kind = DestinationKind::kFhirPut;
  d.endpoint = "http://127.0.0.1:1/fhir";
  d.accepts = std::move(accepts);
  return d;
}

// The bodies sent, by resource type.
std::vector<const Json*> bodiesOf(const ShapedDelivery& shaped, const std::string& type) {
  std::vector<const Json*> out;
  for (const WireRequest& r : shaped.requests) {
    const Json* rt = r.body.find("resourceType");
    if (rt != nullptr && rt->text() == type) out.push_back(&r.body);
  }
  return out;
}

std::string firstNote(const Json& resource) {
  const Json* notes = resource.find("note");
  if (notes == nullptr || notes->size() == 0) return "";
  return notes->items().back().find("text")->text();
}

}  // namespace

TEST_CASE("notice fallback: note, skip, or the Communication itself", "[mappings][safety]") {
  const PlanRecord record = duloxetine();
  const Json bundle = bundleWithNotice(record);

  struct Case {
    const char* name;
    std::vector<std::string> accepts;
    NoticeFallback fallback;
    std::size_t communications;
    bool note;
    bool skipped;
  };
  const std::vector<Case> cases = {
      {"takes Communication", {}, NoticeFallback::kNote, 1, false, false},
      {"note",
       {"Patient", "MedicationStatement", "Provenance"},
       NoticeFallback::kNote,
       0,
       true,
       false},
      {"skip",
       {"Patient", "MedicationStatement", "Provenance"},
       NoticeFallback::kSkip,
       0,
       false,
       true},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      DestinationProfile d = destination(c.accepts);
      d.fallbacks.notice = c.fallback;
      ShapedDelivery shaped = shapeForDestination(bundle, record, d, nullptr);
      INFO(shaped.reason);
      REQUIRE(shaped.state == ShapeState::kSend);
      CHECK(bodiesOf(shaped, "Communication").size() == c.communications);
      std::vector<const Json*> statements = bodiesOf(shaped, "MedicationStatement");
      REQUIRE(statements.size() == 1);
      const std::string note = firstNote(*statements[0]);
      CHECK((note.rfind("ATTENTION (inloop safety notice, routine): Patient: Maria Elena "
                        "Alvarez, born 1961-04-02",
                        0) == 0) == c.note);
      CHECK((note.find("Duloxetine started") != std::string::npos) == c.note);
      if (c.note) {
        CHECK(note.find("blood pressure") != std::string::npos);
        inloop::fhir::Issues issues = inloop::fhir::validateResource(*statements[0]);
        INFO(inloop::fhir::formatIssues(issues));
        CHECK_FALSE(inloop::fhir::hasErrors(issues));
      }
      bool skippedComm = false;
      for (const SkippedResource& s : shaped.skipped)
        skippedComm |= s.resourceType == "Communication";
      CHECK(skippedComm == c.skipped);
      // The Provenance never points at a Communication that is not sent.
      for (const Json* p : bodiesOf(shaped, "Provenance")) {
        for (const Json& t : p->find("target")->items()) {
          const Json* ref = t.find("reference");
          if (c.communications == 0 && ref != nullptr) {
            CHECK(ref->text().find("Communication") == std::string::npos);
          }
        }
      }
    }
  }
}

TEST_CASE("notice fallback: a MedicationRequest destination gets the stored notices",
          "[mappings][safety]") {
  const PlanRecord record = duloxetine();
  const Json stored = bundleWithNotice(record);

  SECTION("as a Communication about the MedicationRequest") {
    DestinationProfile d =
        destination({"Patient", "MedicationRequest", "Communication", "Provenance"});
    ShapedDelivery shaped = shapeRecord(record, tables(), d, nullptr, &stored);
    INFO(shaped.reason);
    REQUIRE(shaped.state == ShapeState::kSend);
    std::vector<const Json*> comms = bodiesOf(shaped, "Communication");
    REQUIRE(comms.size() == 1);
    CHECK(comms[0]->find("about")->items()[0].find("type")->text() == "MedicationRequest");
    inloop::fhir::Issues issues = inloop::fhir::validateResource(*comms[0]);
    INFO(inloop::fhir::formatIssues(issues));
    CHECK_FALSE(inloop::fhir::hasErrors(issues));
    // Without the stored Bundle the notice would be lost: the check can fail.
    CHECK(bodiesOf(shapeRecord(record, tables(), d, nullptr), "Communication").empty());
  }
  SECTION("as a note on the MedicationRequest") {
    DestinationProfile d = destination({"Patient", "MedicationRequest", "Provenance"});
    ShapedDelivery shaped = shapeRecord(record, tables(), d, nullptr, &stored);
    REQUIRE(shaped.state == ShapeState::kSend);
    CHECK(bodiesOf(shaped, "Communication").empty());
    std::vector<const Json*> requests = bodiesOf(shaped, "MedicationRequest");
    REQUIRE(requests.size() == 1);
    CHECK(firstNote(*requests[0]).rfind("ATTENTION (inloop safety notice, routine): ", 0) == 0);
  }
}

TEST_CASE("carryNoticeEntries refuses what is not a transaction Bundle", "[mappings][safety]") {
  Json notABundle = Json::object();
  CHECK(carryNoticeEntries(Json::object(), MedicationAs::kStatement, &notABundle).status().code() ==
        inloop::fhir::ErrorCode::kInvalid);
}

TEST_CASE("a notice's 'about' links to the resource sent with it", "[mappings][safety]") {
  const PlanRecord record = duloxetine();
  const Json bundle = bundleWithNotice(record);
  DestinationProfile tx;
  tx.id = "ehr";
  tx.kind = DestinationKind::kFhirTransaction;
  tx.endpoint = "https://ehr.example.org/fhir";
  ShapedDelivery shaped = shapeForDestination(bundle, record, tx, nullptr);
  REQUIRE(shaped.state == ShapeState::kSend);
  std::string statementUrl;
  const Json* about = nullptr;
  for (const Json& e : shaped.requests[0].body.find("entry")->items()) {
    const std::string type = e.find("resource")->find("resourceType")->text();
    if (type == "MedicationStatement") statementUrl = e.find("fullUrl")->text();
    if (type == "Communication") about = e.find("resource")->find("about");
  }
  REQUIRE_FALSE(statementUrl.empty());
  REQUIRE(about != nullptr);
  REQUIRE(about->items().size() == 1);
  // A literal link in the Bundle, keeping the logical part (type, identifier).
  CHECK(about->items()[0].find("reference")->text() == statementUrl);
  CHECK(about->items()[0].find("identifier") != nullptr);
  // The stored translation keeps the logical reference only.
  for (const Json& e : bundle.find("entry")->items()) {
    if (e.find("resource")->find("resourceType")->text() != "Communication") continue;
    CHECK(e.find("resource")->find("about")->items()[0].find("reference") == nullptr);
  }
  // Single requests point at the statement by its conditional URL (the sender
  // turns that into the literal id it got).
  tx.kind = DestinationKind::kFhirPut;
  ShapedDelivery put = shapeForDestination(bundle, record, tx, nullptr);
  REQUIRE(put.state == ShapeState::kSend);
  for (const auto& w : put.requests) {
    if (w.body.find("resourceType")->text() != "Communication") continue;
    CHECK(w.body.find("about")
              ->items()[0]
              .find("reference")
              ->text()
              .rfind("MedicationStatement?identifier=", 0) == 0);
  }
}

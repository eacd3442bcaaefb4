#pragma once

// Checks of what a real FHIR server (tests/peers/fhir-server.mjs) holds after
// inloop delivered records to it, shared by the end-to-end and receiver
// conformance suites: every conditional write of a record's translation
// matches exactly one valid resource, and every reference in what the server
// holds resolves (no conditional reference stored literally, no urn:uuid left,
// every "Type/id" readable).

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "fhir/validator.h"
#include "mappings/shaping/destination.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fhir_server_peer.h"
#include "tests/gateway/support/server_fixture.h"

namespace inloop::e2e_testing {

// The example records every suite sends (examples/records).
inline const std::vector<std::string>& exampleNames() {
  return server_testing::exampleRecordNames();
}

using delivery_testing::textOf;

inline const fhir::Json& memberOr(const fhir::Json& j, const char* key) {
  static const fhir::Json kNull;
  const fhir::Json* v = j.find(key);
  return v != nullptr ? *v : kNull;
}

inline std::string recordIdOf(const std::string& json) {
  return fhir::parseJson(json)->find("recordId")->text();
}

// Posts each example record (a file name in examples/records) to the daemon
// and returns their record ids, in order.
inline std::vector<std::string> postExamples(server_testing::DaemonFixture& d,
                                             const std::vector<std::string>& names) {
  std::vector<std::string> ids;
  for (const std::string& name : names) {
    const std::string json = server_testing::exampleRecord(name);
    ids.push_back(recordIdOf(json));
    REQUIRE(d.request("POST", "/records", server_testing::kAdminToken, json).status == 202);
  }
  return ids;
}

// Waits at most `seconds` until every record of `ids` is delivered everywhere.
inline bool waitAllDelivered(server_testing::DaemonFixture& d, const std::vector<std::string>& ids,
                             int seconds) {
  return delivery_testing::waitUntil(
      d.changes(),
      [&] {
        for (const std::string& id : ids) {
          if (!server_testing::allDelivered(d, id)) return false;
        }
        return true;
      },
      seconds);
}

// The stored translation of a record (GET /records/{id}).
inline fhir::Json translation(server_testing::DaemonFixture& d, const std::string& recordId) {
  const fhir::Json view =
      d.request("GET", "/records/" + recordId, server_testing::kAdminToken).json();
  const fhir::Json* t = view.find("translation");
  return t != nullptr ? *t : fhir::Json();
}

// Every reference in `resource` resolves at `server`: none is conditional or a
// urn:uuid, and every literal "Type/id" is readable as that type. Returns how
// many literal references were followed.
inline int checkReferencesResolve(const testing::FhirServerPeer& server, fhir::Json resource) {
  int followed = 0;
  mappings::forEachReference(resource, [&](fhir::Json& ref) {
    const std::string target = ref.find("reference")->text();
    INFO(textOf(resource, "resourceType") << " references " << target.substr(0, 40));
    CHECK_FALSE(mappings::isConditionalReference(target));
    CHECK(target.rfind("urn:uuid:", 0) != 0);
    const std::size_t slash = target.find('/');
    if (slash == std::string::npos || target.find("://") != std::string::npos) return;
    int status = 0;
    fhir::Json found = server.get(target, &status);
    CHECK(status == 200);
    CHECK(textOf(found, "resourceType") == target.substr(0, slash));
    ++followed;
  });
  return followed;
}

// Each conditional write of `bundle` (a record's translation) matches exactly
// one resource at `server`, valid per inloop's validator, whose references all
// resolve. Resource types in `absent` must not be there (skipped for this
// receiver). Returns the number of references followed.
inline int checkExactlyOnce(const testing::FhirServerPeer& server, const fhir::Json& bundle,
                            const std::string& recordId, const std::set<std::string>& absent = {}) {
  int followed = 0;
  const fhir::Json* list = bundle.find("entry");
  REQUIRE(list != nullptr);
  for (const fhir::Json& e : list->items()) {
    REQUIRE(e.find("request") != nullptr);
    const fhir::Json& request = *e.find("request");
    std::string query = textOf(request, "url");
    if (const fhir::Json* ine = request.find("ifNoneExist")) {
      query = textOf(request, "url") + "?" + ine->text();
    }
    if (query.find('?') == std::string::npos) continue;
    int status = 0;
    fhir::Json found = server.get(query, &status);
    INFO(recordId << ": " << query);
    REQUIRE(status == 200);
    std::vector<fhir::Json> matches = testing::bundleResources(found);
    const std::string type = query.substr(0, query.find('?'));
    CHECK(matches.size() == (absent.count(type) != 0 ? 0u : 1u));
    for (const fhir::Json& resource : matches) {
      fhir::Issues issues = fhir::validateResource(resource);
      INFO(fhir::formatIssues(issues));
      CHECK_FALSE(fhir::hasErrors(issues));
      followed += checkReferencesResolve(server, resource);
    }
  }
  return followed;
}

}  // namespace inloop::e2e_testing

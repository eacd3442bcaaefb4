// The patient summary: GET /patients/{mrn}/summary (JSON and HTML) through the
// real daemon in process, and `inloop summary` on the same store.

#include <catch2/catch.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/cli/cli.h"
#include "tests/gateway/support/server_fixture.h"

namespace {

using inloop::fhir::Json;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::exampleRecord;
using inloop::server_testing::HttpReply;
using inloop::server_testing::kIngestToken;
using inloop::server_testing::kReadToken;

Json parse(const std::string& s) { return *inloop::fhir::parseJson(s); }

HttpReply getWithAccept(DaemonFixture& f, const std::string& path, const std::string& accept) {
  Poco::Net::HTTPClientSession session("127.0.0.1", f.port());
  Poco::Net::HTTPRequest req("GET", path, Poco::Net::HTTPMessage::HTTP_1_1);
  req.set("Authorization", std::string("Bearer ") + kReadToken);
  req.set("Accept", accept);
  session.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::istream& in = session.receiveResponse(resp);
  HttpReply r;
  Poco::StreamCopier::copyToString(in, r.body);
  r.status = static_cast<int>(resp.getStatus());
  r.contentType = resp.getContentType();
  return r;
}

// The patient PC-448812 of the examples: the plan (program name `program`),
// standing tolerance 130 min (goal G1: >= 120 min), duloxetine and an opioid.
void postPatient(DaemonFixture& f, const std::string& program) {
  Json plan = parse(exampleRecord("care-plan-functional-restoration.json"));
  plan.find("program")->set("name", Json::string(program));
  Json standing = parse(exampleRecord("measurement-standing-tolerance.json"));
  standing.set("value", Json::number(std::int64_t{130}));
  standing.set("unit", Json::string("min"));
  Json opioid = parse(exampleRecord("medication-start-duloxetine.json"));
  opioid.set("recordId", Json::string("RX-S-OXY"));
  opioid.set("action", Json::string("start"));
  Json medication = Json::object();
  medication.set("code", Json::string("oxycodone-er"));
  opioid.set("medication", std::move(medication));
  opioid.find("dose")->set("value", Json::number(std::int64_t{10}));
  opioid.find("frequency")->set("count", Json::number(std::int64_t{2}));
  for (const std::string& record :
       {inloop::fhir::writeJson(plan), inloop::fhir::writeJson(standing),
        exampleRecord("measurement-pain-nrs.json"),
        exampleRecord("medication-start-duloxetine.json"), inloop::fhir::writeJson(opioid)}) {
    HttpReply r = f.request("POST", "/records", kIngestToken, record);
    INFO(r.body);
    REQUIRE(r.status == 202);
  }
}

const Json* byMember(const Json& list, const char* key, const std::string& value) {
  for (const Json& item : list.items()) {
    const Json* v = item.find(key);
    if (v != nullptr && v->text() == value) return &item;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("patient summary: medications, MME, plan, measures against goals, notices",
          "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  postPatient(f, "10-week functional restoration program");

  HttpReply r = f.request("GET", "/patients/PC-448812/summary", kReadToken);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.contentType == "application/json");
  Json s = r.json();
  CHECK(s.find("mrn")->text() == "PC-448812");

  const Json* duloxetine = byMember(*s.find("medications"), "drug", "duloxetine");
  REQUIRE(duloxetine != nullptr);
  CHECK(duloxetine->find("dose")->text() == "30 mg");
  CHECK(duloxetine->find("frequency")->text() == "1 per day");
  const Json* oxy = byMember(*s.find("medications"), "drug", "oxycodone-er");
  REQUIRE(oxy != nullptr);
  CHECK(oxy->find("dailyMme")->text() == "30");  // 10 mg x 2 x 1.5
  CHECK(s.find("dailyMme")->find("total")->text() == "30");
  CHECK(s.find("dailyMme")->find("complete")->asBool());

  const Json* plan = s.find("plan");
  REQUIRE(plan->isObject());
  CHECK(plan->find("recordId")->text() == "CP-2026-0412");
  CHECK(plan->find("goals")->size() == 2);

  const Json* standing = byMember(*s.find("measures"), "measure", "standing-tolerance");
  REQUIRE(standing != nullptr);
  CHECK(standing->find("value")->text() == "130");
  CHECK(standing->find("goal")->find("goalId")->text() == "G1");
  CHECK(standing->find("goal")->find("status")->text() == "met");
  CHECK(byMember(*s.find("measures"), "measure", "pain-nrs") != nullptr);

  const Json* notice = byMember(*s.find("notices"), "recordId", "RX-2026-5521");
  REQUIRE(notice != nullptr);
  CHECK(notice->find("rule")->text() == "managed-effect");
  CHECK(s.find("problems") == nullptr);

  SECTION("unknown patient: 404; no token: 401") {
    CHECK(f.request("GET", "/patients/PC-000000/summary", kReadToken).status == 404);
    CHECK(f.request("GET", "/patients/PC-448812/summary").status == 401);
    CHECK(f.request("POST", "/patients/PC-448812/summary", kReadToken, "{}").status == 405);
  }
  SECTION("inloop summary reads the same from the store") {
    f.stopAndLog();
    std::ostringstream out, err;
    std::istringstream in;
    int code = inloop::gateway::runCli(
        {"inloop", "summary", "PC-448812", "--data-dir", (f.tmp() / "data").string(), "--mappings",
         f.mappingsDir().string()},
        in, out, err);
    INFO(err.str());
    REQUIRE(code == 0);
    Json cli = parse(out.str());
    CHECK(cli.find("dailyMme")->find("total")->text() == "30");
    CHECK(cli.find("plan")->find("recordId")->text() == "CP-2026-0412");
    std::ostringstream out2, err2;
    CHECK(inloop::gateway::runCli(
              {"inloop", "summary", "PC-000000", "--data-dir", (f.tmp() / "data").string(),
               "--mappings", f.mappingsDir().string()},
              in, out2, err2) == 1);
  }
}

TEST_CASE("patient summary as HTML escapes everything from the records", "[gateway][safety]") {
  DaemonFixture f;
  REQUIRE(f.startError() == "");
  postPatient(f, "<script>alert('x')</script> & \"restoration\"");

  HttpReply html = getWithAccept(f, "/patients/PC-448812/summary", "text/html");
  INFO(html.body);
  REQUIRE(html.status == 200);
  CHECK(html.contentType.rfind("text/html", 0) == 0);
  CHECK(html.body.find("<script>") == std::string::npos);
  CHECK(html.body.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                       "&quot;restoration&quot;") != std::string::npos);
  CHECK(html.body.find("Duloxetine started 30 mg") != std::string::npos);
  CHECK(html.body.find("Total daily MME: 30") != std::string::npos);

  // Without text/html: JSON, with the raw text.
  HttpReply json = getWithAccept(f, "/patients/PC-448812/summary", "application/json");
  REQUIRE(json.status == 200);
  CHECK(json.json().find("plan")->find("program")->find("name")->text().rfind("<script>", 0) == 0);
}

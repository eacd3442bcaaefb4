#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/transport/capabilities.h"
#include "gateway/transport/ndjson_dir_sender.h"
#include "gateway/transport/sender.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/test_pki.h"
#include "tests/support/files.h"

using namespace inloop;
using gateway::DeliveryOutcome;
using gateway::OutcomeClass;
using testing::FaultReceiver;
using testing::Step;

namespace {

constexpr std::int64_t kNow = 1714557600000;  // 2024-05-01T10:00:00Z

fhir::Json parse(const std::string& text) {
  auto j = fhir::parseJson(text);
  REQUIRE(j.isOk());
  return std::move(j).value();
}

mappings::ShapedDelivery transactionDelivery() {
  mappings::ShapedDelivery d;
  d.kind = mappings::DestinationKind::kFhirTransaction;
  mappings::WireRequest r;
  r.method = "POST";
  r.url = "";
  r.body = parse(R"({"resourceType":"Bundle","type":"transaction","entry":[]})");
  d.requests.push_back(std::move(r));
  return d;
}

mappings::ShapedDelivery putDelivery() {
  mappings::ShapedDelivery d;
  d.kind = mappings::DestinationKind::kFhirPut;
  for (const char* type : {"Patient", "Observation", "Provenance"}) {
    mappings::WireRequest r;
    r.method = "PUT";
    r.url = std::string(type) + "?identifier=urn:example|MRN-0001";
    r.body = parse(std::string(R"({"resourceType":")") + type + R"("})");
    d.requests.push_back(std::move(r));
  }
  return d;
}

std::unique_ptr<gateway::HttpClient> clientFor(const std::string& url,
                                               std::int64_t requestMs = 30000) {
  gateway::HttpClientOptions options;
  options.timeouts.requestMs = requestMs;
  auto c = gateway::HttpClient::create(url, options, nullptr);
  REQUIRE(c.isOk());
  return std::move(c).value();
}

const char* kTransactionResponse = R"({"resourceType":"Bundle","type":"transaction-response",
  "entry":[{"response":{"status":"201 Created","location":"Observation/1/_history/1"}},
           {"response":{"status":"200 OK","location":"CarePlan/2/_history/3"}}]})";

}  // namespace

TEST_CASE("parseRetryAfter reads delta-seconds and HTTP-dates", "[gateway]") {
  struct Case {
    const char* value;
    std::optional<std::int64_t> millis;
  };
  const Case cases[] = {
      {"120", 120000},
      {"0", 0},
      {" 5 ", 5000},
      {"Wed, 01 May 2024 10:00:30 GMT", 30000},
      {"Wed, 01 May 2024 09:00:00 GMT", 0},  // in the past: now
      {"99999999999", 24LL * 3600 * 1000},   // capped
      {"soon", std::nullopt},
      {"", std::nullopt},
      {"-5", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(c.value);
    CHECK(gateway::parseRetryAfter(c.value, kNow) == c.millis);
  }
}

TEST_CASE("classifyResponse follows the retry rules", "[gateway]") {
  const std::string oo422 =
      R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",)"
      R"("diagnostics":"Observation.status: missing"}]})";
  const std::string ooTransient =
      R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]})";
  const std::string ooThrottled =
      R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled"}]})";
  const std::string batchFail = R"({"resourceType":"Bundle","type":"batch-response","entry":[
      {"response":{"status":"201 Created"}},
      {"response":{"status":"422 Unprocessable Entity","outcome":)" +
                                oo422 + R"(}}]})";
  struct Case {
    int status;
    std::string body;
    bool conditional;
    OutcomeClass expected;
  };
  const Case cases[] = {
      {200, kTransactionResponse, false, OutcomeClass::kDelivered},
      {201, "", true, OutcomeClass::kDelivered},
      {408, "", false, OutcomeClass::kRetry},
      {429, "", false, OutcomeClass::kRetry},
      {500, "", false, OutcomeClass::kRetry},
      {502, "", false, OutcomeClass::kRetry},
      {503, "", false, OutcomeClass::kRetry},
      {504, "", false, OutcomeClass::kRetry},
      {401, "", false, OutcomeClass::kRetry},
      {409, "", false, OutcomeClass::kRetry},
      {400, "", false, OutcomeClass::kPermanent},
      {403, "", false, OutcomeClass::kPermanent},
      {404, "", false, OutcomeClass::kPermanent},
      {405, "", false, OutcomeClass::kPermanent},
      {410, "", false, OutcomeClass::kPermanent},
      {422, oo422, false, OutcomeClass::kPermanent},
      {412, "", true, OutcomeClass::kPermanent},
      {412, "", false, OutcomeClass::kRetry},
      {400, ooTransient, false, OutcomeClass::kRetry},
      {422, ooThrottled, false, OutcomeClass::kRetry},
      {200, batchFail, false, OutcomeClass::kPermanent},
      {200, "not json", false, OutcomeClass::kDelivered},
  };
  for (const auto& c : cases) {
    INFO(c.status << " " << c.body);
    gateway::HttpResponse r;
    r.status = c.status;
    r.body = c.body;
    DeliveryOutcome out = gateway::classifyResponse(r, kNow, c.conditional);
    CHECK(out.outcome == c.expected);
  }

  gateway::HttpResponse r422{422, "", {}, oo422};
  DeliveryOutcome permanent = gateway::classifyResponse(r422, kNow, false);
  CHECK(permanent.operationOutcome == oo422);
  CHECK(permanent.summary.find("invalid: Observation.status: missing") != std::string::npos);
  // Logs get the status and the issue code, never the receiver's words.
  CHECK(permanent.logSummary.find("HTTP 422 (invalid)") == 0);
  CHECK(permanent.logSummary.find("Observation.status") == std::string::npos);
  // A code that is not a plain issue code is the receiver's text too.
  gateway::HttpResponse odd{
      400,
      "",
      {},
      R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"Maria Alvarez"}]})"};
  DeliveryOutcome oddOut = gateway::classifyResponse(odd, kNow, false);
  CHECK(oddOut.summary.find("Maria Alvarez") != std::string::npos);
  CHECK(oddOut.logSummary.find("Maria") == std::string::npos);
  CHECK_FALSE(oddOut.logSummary.empty());
  // Nothing of the receiver's to hide: the summary is what the log says.
  gateway::HttpResponse bare{503, "", {}, ""};
  CHECK(gateway::classifyResponse(bare, kNow, false).logSummary.empty());

  gateway::HttpResponse ok{200, "", {}, kTransactionResponse};
  DeliveryOutcome delivered = gateway::classifyResponse(ok, kNow, false);
  CHECK(delivered.locations ==
        std::vector<std::string>{"Observation/1/_history/1", "CarePlan/2/_history/3"});

  gateway::HttpResponse batch{200, "", {}, batchFail};
  DeliveryOutcome batchOut = gateway::classifyResponse(batch, kNow, false);
  CHECK(batchOut.httpStatus == 422);
  CHECK(batchOut.operationOutcome.find("Observation.status") != std::string::npos);
}

TEST_CASE("classifyTransportError: network failures retry, bad requests do not", "[gateway]") {
  using K = gateway::TransportErrorKind;
  for (K kind :
       {K::kConnectRefused, K::kDnsFailure, K::kTimeout, K::kTlsHandshake, K::kTlsVerify, K::kReset,
        K::kProtocol, K::kTooLarge, K::kAuthUnavailable, K::kAuthFailed, K::kOther}) {
    INFO(gateway::transportErrorKindName(kind));
    CHECK(gateway::classifyTransportError({kind, "x"}).outcome == OutcomeClass::kRetry);
  }
  CHECK(gateway::classifyTransportError({K::kInvalidRequest, "x"}).outcome ==
        OutcomeClass::kPermanent);
}

TEST_CASE("fhir-transaction sender against the fault-injecting receiver", "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir/R4"), 500);
  auto sender =
      gateway::makeHttpSender(mappings::DestinationKind::kFhirTransaction, *client, nullptr, clock);
  REQUIRE(sender);
  const auto delivery = transactionDelivery();

  SECTION("success: headers, body and locations") {
    receiver.script({Step::respond(200, kTransactionResponse)});
    DeliveryOutcome out = sender->send(delivery);
    CHECK(out.outcome == OutcomeClass::kDelivered);
    CHECK(out.locations.size() == 2);
    auto seen = receiver.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].method == "POST");
    CHECK(seen[0].target == "/fhir/R4");
    CHECK(seen[0].header("Content-Type") == "application/fhir+json");
    CHECK(seen[0].header("Prefer") == "return=OperationOutcome");
    CHECK(parse(seen[0].body) == delivery.requests[0].body);
  }
  SECTION("503 with Retry-After, 429, then 500 then success") {
    receiver.script({Step::retryAfter(503, "7"),
                     Step::retryAfter(429, "Wed, 01 May 2024 10:01:00 GMT"), Step::respond(500),
                     Step::respond(200, kTransactionResponse)});
    DeliveryOutcome a = sender->send(delivery);
    CHECK(a.outcome == OutcomeClass::kRetry);
    CHECK(a.httpStatus == 503);
    CHECK(a.retryAfterMillis == 7000);
    DeliveryOutcome b = sender->send(delivery);
    CHECK(b.outcome == OutcomeClass::kRetry);
    CHECK(b.retryAfterMillis == 60000);
    DeliveryOutcome c = sender->send(delivery);
    CHECK(c.outcome == OutcomeClass::kRetry);
    CHECK_FALSE(c.retryAfterMillis.has_value());
    CHECK(sender->send(delivery).outcome == OutcomeClass::kDelivered);
    CHECK(receiver.requestCount() == 4);
  }
  SECTION("422 with an OperationOutcome is permanent and keeps the receiver's text") {
    receiver.script({Step::operationOutcome(422, "invalid", "CarePlan.subject: unknown")});
    DeliveryOutcome out = sender->send(delivery);
    CHECK(out.outcome == OutcomeClass::kPermanent);
    CHECK(out.httpStatus == 422);
    CHECK(out.operationOutcome.find("CarePlan.subject: unknown") != std::string::npos);
  }
  SECTION("500 with an OperationOutcome code transient retries") {
    receiver.script({Step::operationOutcome(400, "transient", "busy")});
    CHECK(sender->send(delivery).outcome == OutcomeClass::kRetry);
  }
  SECTION("a connection reset mid-response retries") {
    receiver.script({Step::resetMidResponse()});
    DeliveryOutcome out = sender->send(delivery);
    CHECK(out.outcome == OutcomeClass::kRetry);
    REQUIRE(out.transportError.has_value());
    CHECK(*out.transportError == gateway::TransportErrorKind::kReset);
    REQUIRE(out.requests.size() == 1);
    CHECK(out.requests[0].transportError == "reset");
  }
  SECTION("a slow response times out and retries") {
    receiver.script({Step::stall()});
    DeliveryOutcome out = sender->send(delivery);
    receiver.releaseStalls();
    CHECK(out.outcome == OutcomeClass::kRetry);
    REQUIRE(out.transportError.has_value());
    CHECK(*out.transportError == gateway::TransportErrorKind::kTimeout);
  }
  SECTION("a delivery that is not in state send is refused without a request") {
    auto parked = delivery;
    parked.state = mappings::ShapeState::kPatientUnmatched;
    parked.reason = "no pcpPatientId";
    DeliveryOutcome out = sender->send(parked);
    CHECK(out.outcome == OutcomeClass::kPermanent);
    CHECK(receiver.requestCount() == 0);
  }
}

TEST_CASE("fhir-put sender sends in order and stops at the first failure", "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir"));
  auto sender =
      gateway::makeHttpSender(mappings::DestinationKind::kFhirPut, *client, nullptr, clock);
  SECTION("all succeed") {
    receiver.script({Step::respond(201, "", {{"Location", "Patient/p1/_history/1"}}),
                     Step::respond(200), Step::respond(201)});
    DeliveryOutcome out = sender->send(putDelivery());
    CHECK(out.outcome == OutcomeClass::kDelivered);
    CHECK(out.requests.size() == 3);
    CHECK(out.locations == std::vector<std::string>{"Patient/p1/_history/1"});
    auto seen = receiver.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].target == "/fhir/Patient?identifier=urn:example|MRN-0001");
    CHECK(seen[1].target.rfind("/fhir/Observation?", 0) == 0);
    CHECK(seen[2].target.rfind("/fhir/Provenance?", 0) == 0);
  }
  SECTION("412 on the conditional match of the second request: permanent, third not sent") {
    receiver.script({Step::respond(201), Step::operationOutcome(412, "duplicate", "2 matches"),
                     Step::respond(201)});
    DeliveryOutcome out = sender->send(putDelivery());
    CHECK(out.outcome == OutcomeClass::kPermanent);
    CHECK(out.httpStatus == 412);
    CHECK(receiver.requestCount() == 2);
    REQUIRE(out.requests.size() == 2);
    CHECK(out.requests[1].url == "Observation");  // no identifier in the ledger
    CHECK(out.summary.find("PUT Observation") != std::string::npos);
    CHECK(out.summary.find("MRN") == std::string::npos);
  }
}

TEST_CASE("a permanent answer that refuses a type, the transaction or a conditional update says so",
          "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir"));
  auto tx =
      gateway::makeHttpSender(mappings::DestinationKind::kFhirTransaction, *client, nullptr, clock);
  auto put = gateway::makeHttpSender(mappings::DestinationKind::kFhirPut, *client, nullptr, clock);
  // A transaction of a Patient, a Goal and a CarePlan, written by conditional PUTs.
  mappings::ShapedDelivery bundle = transactionDelivery();
  bundle.requests[0].body = parse(R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},
     "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=a%7C1"}},
    {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Goal"},
     "request":{"method":"PUT","url":"Goal?identifier=a%7C2"}},
    {"fullUrl":"urn:uuid:3","resource":{"resourceType":"CarePlan"},
     "request":{"method":"PUT","url":"CarePlan?identifier=a%7C3"}}]})");
  struct Row {
    const char* name;
    Step answer;
    bool transaction;
    std::string refusedType;
    bool conditionalUpdateRefused;
  };
  const Row rows[] = {
      {"a type refused in words",
       Step::operationOutcome(422, "business-rule", "This server does not accept writes of Goal"),
       true, "Goal", false},
      {"not-supported naming one type",
       Step::operationOutcome(400, "not-supported", "Resource type CarePlan"), true, "CarePlan",
       false},
      {"a validation error is not a refusal",
       Step::operationOutcome(422, "invalid", "Goal.target[0]: not supported unit"), true, "",
       false},
      {"two types named: not sure which",
       Step::operationOutcome(422, "not-supported", "Goal and CarePlan are not supported"), true,
       "", false},
      {"a type named in a failed transaction's words",
       Step::operationOutcome(422, "processing", "transaction failed: Goal not supported"), true,
       "Goal", false},
      {"the transaction itself",
       Step::operationOutcome(400, "not-supported", "Transactions are not supported"), true,
       "Bundle", false},
      {"conditional updates in a transaction",
       Step::operationOutcome(400, "not-supported", "Conditional update is not supported"), true,
       "", true},
      {"an entry-level error names its entry's type",
       Step::respond(200, R"({"resourceType":"Bundle","type":"transaction-response","entry":[
         {"response":{"status":"200 OK"}},{"response":{"status":"422 Unprocessable Entity",
         "outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error",
         "code":"not-supported","diagnostics":"Goal not supported"}]}}},
         {"response":{"status":"200 OK"}}]})"),
       true, "Goal", false},
      // A conditional update first: once searchFirst, a type refusal shows as such.
      {"a 405 to a conditional PUT", Step::respond(405), false, "", true},
  };
  for (const Row& row : rows) {
    SECTION(row.name) {
      receiver.script({row.answer});
      DeliveryOutcome out =
          (row.transaction ? tx : put)->send(row.transaction ? bundle : putDelivery());
      INFO(out.summary);
      CHECK(out.outcome == OutcomeClass::kPermanent);
      CHECK(out.refusedType == row.refusedType);
      CHECK(out.conditionalUpdateRefused == row.conditionalUpdateRefused);
    }
  }
  SECTION("a 405 to a plain write names its type") {
    mappings::ShapedDelivery one = putDelivery();
    one.requests.resize(1);
    one.requests[0].searchFirst = true;
    receiver.script({Step::respond(200, R"({"resourceType":"Bundle","type":"searchset"})"),
                     Step::respond(405)});
    DeliveryOutcome out = put->send(one);
    CHECK(out.outcome == OutcomeClass::kPermanent);
    CHECK(out.refusedType == "Patient");
    CHECK_FALSE(out.conditionalUpdateRefused);
  }
  SECTION("a 2xx whose body is an error OperationOutcome is not delivered") {
    receiver.script({Step::respond(200, R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"error","code":"not-supported","details":{"text":"Conditional update is not supported"}}]})")});
    DeliveryOutcome out = tx->send(bundle);
    CHECK(out.outcome == OutcomeClass::kPermanent);
    CHECK(out.conditionalUpdateRefused);
    receiver.script({Step::respond(200, R"({"resourceType":"OperationOutcome","issue":[
      {"severity":"information","code":"informational","diagnostics":"ok"}]})")});
    CHECK(tx->send(bundle).outcome == OutcomeClass::kDelivered);
  }
}

TEST_CASE("references the receiver must resolve are resolved by one search, cached", "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir"));
  gateway::ServerIdCache ids;
  gateway::SenderOptions options{false, &ids};
  auto tx = gateway::makeHttpSender(mappings::DestinationKind::kFhirTransaction, *client, nullptr,
                                    clock, options);
  // reference matching: no Patient entry; the subject names the practice's id.
  mappings::ShapedDelivery d = transactionDelivery();
  d.requests[0].body = parse(R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Observation",
      "subject":{"reference":"Patient?identifier=urn:pcp%7CRFM-1","type":"Patient"}},
     "request":{"method":"PUT","url":"Observation?identifier=a%7C2"}}]})");
  const std::string oneMatch = R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"search":{"mode":"match"},"resource":{"resourceType":"Patient","id":"p77"}},
    {"search":{"mode":"include"},"resource":{"resourceType":"Organization","id":"o1"}}]})";
  SECTION("one match: Patient/{id}, searched once for two deliveries") {
    receiver.script({Step::respond(200, oneMatch), Step::respond(200, kTransactionResponse),
                     Step::respond(200, kTransactionResponse)});
    CHECK(tx->send(d).outcome == OutcomeClass::kDelivered);
    CHECK(tx->send(d).outcome == OutcomeClass::kDelivered);
    auto seen = receiver.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].method == "GET");
    CHECK(seen[0].target == "/fhir/Patient?identifier=urn:pcp%7CRFM-1");
    for (std::size_t i : {std::size_t{1}, std::size_t{2}}) {
      CHECK(seen[i].body.find("\"reference\":\"Patient/p77\"") != std::string::npos);
      CHECK(seen[i].body.find("Patient?identifier") == std::string::npos);
    }
    CHECK(ids.size() == 1);
  }
  SECTION("no match or two: unmatched, nothing sent") {
    receiver.script(
        {Step::respond(200, R"({"resourceType":"Bundle","type":"searchset","entry":[]})"),
         Step::respond(200, R"({"resourceType":"Bundle","type":"searchset","entry":[
           {"resource":{"resourceType":"Patient","id":"a"}},
           {"resource":{"resourceType":"Patient","id":"b"}}]})")});
    DeliveryOutcome none = tx->send(d);
    CHECK(none.outcome == OutcomeClass::kUnmatched);
    CHECK(none.summary.find("does not know this patient") != std::string::npos);
    CHECK(none.summary.find("RFM-1") == std::string::npos);
    DeliveryOutcome two = tx->send(d);
    CHECK(two.outcome == OutcomeClass::kUnmatched);
    CHECK(two.summary.find("2 Patient") != std::string::npos);
    CHECK(receiver.requestCount() == 2);  // searches only
  }
  SECTION("a search that fails is retried like any request") {
    receiver.script({Step::respond(503)});
    DeliveryOutcome out = tx->send(d);
    CHECK(out.outcome == OutcomeClass::kRetry);
    CHECK(out.summary.rfind("search Patient: HTTP 503", 0) == 0);
  }
  SECTION("the destination says the receiver resolves them: sent as they are") {
    auto trusting = gateway::makeHttpSender(mappings::DestinationKind::kFhirTransaction, *client,
                                            nullptr, clock, gateway::SenderOptions{true, &ids});
    receiver.script({Step::respond(200, kTransactionResponse)});
    CHECK(trusting->send(d).outcome == OutcomeClass::kDelivered);
    REQUIRE(receiver.requestCount() == 1);
    CHECK(receiver.requests()[0].body.find("Patient?identifier=urn:pcp%7CRFM-1") !=
          std::string::npos);
  }
}

TEST_CASE(
    "fhir-put: later requests reference earlier ones by their literal ids, and searchFirst "
    "writes by id or creates",
    "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir"));
  auto put = gateway::makeHttpSender(mappings::DestinationKind::kFhirPut, *client, nullptr, clock);
  mappings::ShapedDelivery d;
  d.kind = mappings::DestinationKind::kFhirPut;
  mappings::WireRequest patient;
  patient.method = "POST";
  patient.url = "Patient";
  patient.headers = {{"If-None-Exist", "identifier=a%7C1"}};
  patient.body = parse(R"({"resourceType":"Patient"})");
  mappings::WireRequest goal;
  goal.method = "PUT";
  goal.url = "Goal?identifier=a%7C2";
  goal.searchFirst = true;
  goal.body =
      parse(R"({"resourceType":"Goal","subject":{"reference":"Patient?identifier=a%7C1"}})");
  mappings::WireRequest plan;
  plan.method = "PUT";
  plan.url = "CarePlan?identifier=a%7C3";
  plan.searchFirst = true;
  plan.body = parse(R"({"resourceType":"CarePlan","id":"client-chosen",
    "subject":{"reference":"Patient?identifier=a%7C1"},"goal":[{"reference":"Goal?identifier=a%7C2"}]})");
  d.requests = {patient, goal, plan};
  receiver.script({
      Step::respond(201, "", {{"Location", "http://x/fhir/Patient/p1/_history/1"}}),
      // Goal: not there yet -> POST, its Location is learnt.
      Step::respond(200, R"({"resourceType":"Bundle","type":"searchset","entry":[]})"),
      Step::respond(201, "", {{"Location", "Goal/g9/_history/1"}}),
      // CarePlan: there once -> PUT CarePlan/c5 with If-Match its version.
      Step::respond(200, R"({"resourceType":"Bundle","type":"searchset","entry":[
        {"resource":{"resourceType":"CarePlan","id":"c5","meta":{"versionId":"4"}}}]})"),
      Step::respond(200),
  });
  DeliveryOutcome out = put->send(d);
  INFO(out.summary);
  CHECK(out.outcome == OutcomeClass::kDelivered);
  auto seen = receiver.requests();
  REQUIRE(seen.size() == 5);
  CHECK(seen[1].method == "GET");
  CHECK(seen[1].target == "/fhir/Goal?identifier=a%7C2");
  CHECK(seen[2].method == "POST");
  CHECK(seen[2].target == "/fhir/Goal");
  CHECK(seen[2].body.find("\"reference\":\"Patient/p1\"") != std::string::npos);
  CHECK(seen[4].method == "PUT");
  CHECK(seen[4].target == "/fhir/CarePlan/c5");
  CHECK(seen[4].header("If-Match") == "W/\"4\"");
  CHECK(seen[4].body.find("\"id\":\"c5\"") != std::string::npos);
  CHECK(seen[4].body.find("client-chosen") == std::string::npos);
  CHECK(seen[4].body.find("\"reference\":\"Goal/g9\"") != std::string::npos);
  CHECK(seen[4].body.find("\"reference\":\"Patient/p1\"") != std::string::npos);
}

TEST_CASE("http-bundle sender posts to the listener without FHIR preferences", "[gateway]") {
  gateway::ManualClock clock(kNow);
  FaultReceiver receiver;
  receiver.script({Step::respond(202, "accepted", {})});
  auto client = clientFor(receiver.url("/mirth/listener"));
  auto sender =
      gateway::makeHttpSender(mappings::DestinationKind::kHttpBundle, *client, nullptr, clock);
  auto delivery = transactionDelivery();
  delivery.kind = mappings::DestinationKind::kHttpBundle;
  DeliveryOutcome out = sender->send(delivery);
  CHECK(out.outcome == OutcomeClass::kDelivered);
  auto seen = receiver.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].target == "/mirth/listener");
  CHECK(seen[0].header("Prefer").empty());
  CHECK(gateway::makeHttpSender(mappings::DestinationKind::kNdjsonDir, *client, nullptr, clock) ==
        nullptr);
}

TEST_CASE("ndjson-dir sender appends durably and publishes files atomically", "[gateway]") {
  testing::TempDir dir;
  gateway::ManualClock clock(kNow);
  gateway::NdjsonDirOptions options;
  options.directory = dir.path();
  options.filePrefix = "engine/1";  // made safe
  options.maxBytes = 100;
  options.maxAgeMillis = 60000;
  auto created = gateway::NdjsonDirSender::create(options, clock);
  REQUIRE(created.isOk());
  auto& sender = **created;

  auto published = [&] {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      if (name.front() != '.') names.insert(name);
    }
    return names;
  };
  mappings::ShapedDelivery d;
  d.kind = mappings::DestinationKind::kNdjsonDir;
  d.ndjson = "{\"resourceType\":\"Observation\",\"id\":\"a\"}\n";  // 41 bytes

  // Start-up: one publication for "every written message" (none here).
  std::vector<gateway::NdjsonPublication> startup = sender.takePublications();
  REQUIRE(startup.size() == 1);
  CHECK(startup[0].everyWritten);
  CHECK(startup[0].path.empty());

  // Written (durable, not yet visible to the reader), not delivered.
  CHECK(sender.write(d, 11).outcome == OutcomeClass::kWritten);
  CHECK(published().empty());  // below size and age: still the hidden active file
  CHECK(testing::readFile(sender.activePath()) == d.ndjson);
  CHECK(sender.takePublications().empty());
  CHECK(sender.nextRotationAtMillis() == kNow + 60000);

  SECTION("rotation by size") {
    CHECK(sender.write(d, 12).outcome == OutcomeClass::kWritten);
    DeliveryOutcome third = sender.write(d, 13);  // 123 bytes >= 100: published
    CHECK(third.outcome == OutcomeClass::kWritten);
    std::vector<gateway::NdjsonPublication> done = sender.takePublications();
    REQUIRE(done.size() == 1);
    CHECK(done[0].messageIds == std::vector<std::int64_t>{11, 12, 13});
    CHECK_FALSE(done[0].everyWritten);
    CHECK(third.locations == std::vector<std::string>{done[0].path});
    CHECK(sender.nextRotationAtMillis() == 0);
    auto names = published();
    REQUIRE(names.size() == 1);
    const std::string name = *names.begin();
    CHECK(name.rfind("engine_1-20240501T100000000Z-", 0) == 0);
    CHECK(name.size() > 7);
    CHECK(name.substr(name.size() - 7) == ".ndjson");
    CHECK(testing::readFile(dir.file(name)) == d.ndjson + d.ndjson + d.ndjson);
    CHECK_FALSE(std::filesystem::exists(sender.activePath()));
  }
  SECTION("rotation by age on the timer") {
    auto early = sender.rotateIfDue();
    REQUIRE(early.isOk());
    CHECK(early->empty());
    clock.advance(60000);
    auto due = sender.rotateIfDue();
    REQUIRE(due.isOk());
    CHECK_FALSE(due->empty());
    CHECK(published().size() == 1);
    std::vector<gateway::NdjsonPublication> done = sender.takePublications();
    REQUIRE(done.size() == 1);
    CHECK(done[0].path == *due);
    CHECK(done[0].messageIds == std::vector<std::int64_t>{11});
    // The next line starts a new file; names never collide.
    CHECK(sender.send(d).outcome == OutcomeClass::kWritten);
    auto now = sender.rotateNow();
    REQUIRE(now.isOk());
    CHECK(published().size() == 2);
  }
  SECTION("a leftover active file is cut to whole lines and published on start") {
    created->reset();
    {
      std::string torn = testing::readFile(dir.file(".engine_1.ndjson.tmp"));
      REQUIRE(testing::writeTextFile(dir.file(".engine_1.ndjson.tmp"), torn + "{\"resourceT"));
    }
    auto again = gateway::NdjsonDirSender::create(options, clock);
    REQUIRE(again.isOk());
    auto names = published();
    REQUIRE(names.size() == 1);
    CHECK(testing::readFile(dir.file(*names.begin())) == d.ndjson);
    // The ids of the previous run are unknown here: "every written message".
    std::vector<gateway::NdjsonPublication> recovered = (*again)->takePublications();
    REQUIRE(recovered.size() == 1);
    CHECK(recovered[0].everyWritten);
    CHECK(recovered[0].messageIds.empty());
    CHECK(recovered[0].path == dir.file(*names.begin()));
  }
  SECTION("a missing folder is created; one that cannot be is refused at creation") {
    options.directory = dir.file("missing/outbox");
    REQUIRE(gateway::NdjsonDirSender::create(options, clock).isOk());
    CHECK(std::filesystem::is_directory(dir.file("missing/outbox")));
    REQUIRE(testing::writeTextFile(dir.file("plain-file"), "x"));
    options.directory = dir.file("plain-file/outbox");
    CHECK_FALSE(gateway::NdjsonDirSender::create(options, clock).isOk());
  }
}

TEST_CASE("fetchCapabilities reads GET [base]/metadata", "[gateway]") {
  FaultReceiver receiver;
  auto client = clientFor(receiver.url("/fhir/R4"));
  SECTION("a CapabilityStatement") {
    receiver.script({Step::respond(200, R"({"resourceType":"CapabilityStatement",
      "status":"active","kind":"instance","fhirVersion":"4.0.1","format":["json"],
      "rest":[{"mode":"server","interaction":[{"code":"transaction"}],
      "resource":[{"type":"Observation","interaction":[{"code":"read"},{"code":"update"}],
                   "conditionalUpdate":true}]}]})")});
    auto caps = gateway::fetchCapabilities(*client, nullptr);
    INFO(caps.status().toString());
    REQUIRE(caps.isOk());
    CHECK(caps->transaction);
    CHECK(caps->canUpdate("Observation"));
    CHECK(caps->resourcesListed);
    CHECK(caps->find("CarePlan") == nullptr);  // not listed: unknown, so sent
    CHECK(caps->canUpdate("CarePlan"));
    auto seen = receiver.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].target == "/fhir/R4/metadata");
    CHECK(seen[0].header("Accept") == "application/fhir+json");
  }
  SECTION("503: try later") {
    receiver.script({Step::respond(503)});
    auto caps = gateway::fetchCapabilities(*client, nullptr);
    REQUIRE_FALSE(caps.isOk());
    CHECK(caps.status().code() == fhir::ErrorCode::kUnavailable);
  }
  SECTION("not a CapabilityStatement") {
    receiver.script({Step::respond(200, R"({"resourceType":"Patient"})")});
    auto caps = gateway::fetchCapabilities(*client, nullptr);
    REQUIRE_FALSE(caps.isOk());
    CHECK(caps.status().code() == fhir::ErrorCode::kInvalid);
  }
}

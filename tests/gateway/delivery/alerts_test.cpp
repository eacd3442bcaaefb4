// Alerts (gateway/delivery/alerts.h): the rules over fed destination statuses
// on a ManualClock (fire once, repeat after repeatMs, resolve), the Alerter
// posting to a webhook on loopback (retries, failures, secret
// headers), and a daemon whose destination dead-letters and whose reload is
// rejected telling a webhook so.
#include "gateway/delivery/alerts.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "fhir/json.h"
#include "gateway/base/clock.h"
#include "gateway/config/daemon_config.h"
#include "gateway/log/json_logger.h"
#include "tests/gateway/support/delivery_support.h"
#include "tests/gateway/support/fault_receiver.h"
#include "tests/gateway/support/server_fixture.h"

using inloop::delivery_testing::measurement;
using inloop::delivery_testing::waitUntil;
using inloop::fhir::Json;
using inloop::gateway::Alert;
using inloop::gateway::Alerter;
using inloop::gateway::AlerterDeps;
using inloop::gateway::AlertRules;
using inloop::gateway::AlertRulesConfig;
using inloop::gateway::AlertsConfig;
using inloop::gateway::AlertWebhookConfig;
using inloop::gateway::CircuitState;
using inloop::gateway::DestinationStatus;
using inloop::gateway::ManualClock;
using inloop::server_testing::DaemonFixture;
using inloop::server_testing::FixtureStore;
using inloop::server_testing::kAdminToken;
using inloop::server_testing::kReadToken;
using inloop::server_testing::TempDir;
using inloop::server_testing::writeFile;
using inloop::testing::FaultReceiver;
using inloop::testing::ReceivedRequest;
using inloop::testing::Step;

namespace {

constexpr std::int64_t kMinute = 60'000;

DestinationStatus healthy(const std::string& id = "ehr") {
  DestinationStatus s;
  s.id = id;
  s.health = "ok";
  return s;
}

std::string textOf(const Json& j, const char* key) {
  const Json* v = j.find(key);
  return v != nullptr ? v->text() : std::string();
}

// "name/state" of each alert, in order.
std::vector<std::string> names(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const Alert& a : alerts) {
    out.push_back(a.name + "/" + (a.firing ? (a.repeat ? "repeat" : "firing") : "resolved"));
  }
  return out;
}

// Bodies of the webhook requests received that are `alert` in `state`.
std::vector<Json> posted(const FaultReceiver& receiver, const std::string& alert,
                         const std::string& state = "firing") {
  std::vector<Json> out;
  for (const ReceivedRequest& r : receiver.requests()) {
    inloop::fhir::Result<Json> body = inloop::fhir::parseJson(r.body);
    if (body.isOk() && textOf(*body, "alert") == alert && textOf(*body, "state") == state) {
      out.push_back(*body);
    }
  }
  return out;
}

AlertWebhookConfig webhookTo(const FaultReceiver& receiver, const std::string& id = "ops") {
  AlertWebhookConfig w;
  w.id = id;
  w.url = receiver.url("/hooks/inloop");
  w.timeoutMs = 2000;
  return w;
}

}  // namespace

TEST_CASE("alert rules: a condition fires once, again after repeatMs, and resolves once",
          "[gateway][alerts]") {
  AlertRules rules(AlertRulesConfig{}, 30 * kMinute);
  ManualClock clock;
  DestinationStatus s = healthy();
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());

  s.circuit = CircuitState::kOpen;
  s.health = "down";
  s.queueDepth = 7;
  std::vector<Alert> fired = rules.evaluate({s}, clock.nowMillis());
  REQUIRE(names(fired) == std::vector<std::string>{"circuit-open/firing"});
  CHECK(fired[0].destination == "ehr");
  CHECK(fired[0].summary.find("7 messages pending") != std::string::npos);
  CHECK(textOf(fired[0].details, "circuit") == "open");
  CHECK(textOf(fired[0].details, "queueDepth") == "7");
  CHECK(rules.firingCounts().at("circuit-open") == 1);

  clock.advance(30 * kMinute - 1);
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());  // told already
  clock.advance(1);
  CHECK(names(rules.evaluate({s}, clock.nowMillis())) ==
        std::vector<std::string>{"circuit-open/repeat"});
  s.circuit = CircuitState::kHalfOpen;  // probing is not closed yet
  clock.advance(kMinute);
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());

  s.circuit = CircuitState::kClosed;
  clock.advance(kMinute);
  std::vector<Alert> resolved = rules.evaluate({s}, clock.nowMillis());
  REQUIRE(names(resolved) == std::vector<std::string>{"circuit-open/resolved"});
  CHECK(resolved[0].atMillis == clock.nowMillis());
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());
  CHECK(rules.firingCounts().empty());
}

TEST_CASE("alert rules: dead letters per interval, not-sent, oldest pending age",
          "[gateway][alerts]") {
  AlertRulesConfig config;
  config.deadLetterCount = 2;
  config.deadLetterIntervalMs = 10 * kMinute;
  config.oldestPendingAgeMs = 60 * kMinute;
  AlertRules rules(config, 0);  // never repeat
  ManualClock clock;
  DestinationStatus s = healthy();

  // One dead letter is below the threshold; a second within the interval fires.
  s.counters.deadLettered = 1;
  s.deadLetters = 1;
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());
  clock.advance(5 * kMinute);
  s.counters.deadLettered = 2;
  s.deadLetters = 2;
  std::vector<Alert> fired = rules.evaluate({s}, clock.nowMillis());
  REQUIRE(names(fired) == std::vector<std::string>{"dead-letters/firing"});
  CHECK(textOf(fired[0].details, "deadLetteredInInterval") == "2");
  CHECK(textOf(fired[0].details, "deadLetters") == "2");
  CHECK(fired[0].summary ==
        "2 messages dead-lettered for ehr in the last 10 min; 2 dead letters wait for an operator");
  // repeatMs 0: never again while it persists.
  clock.advance(4 * kMinute);
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());
  // The first falls out of the interval: below the threshold, resolved.
  clock.advance(2 * kMinute);
  CHECK(names(rules.evaluate({s}, clock.nowMillis())) ==
        std::vector<std::string>{"dead-letters/resolved"});
  // A pool restarted by a reload counts from 0 again: 2 new ones fire.
  s.counters.deadLettered = 2;
  clock.advance(20 * kMinute);
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());
  s.counters.deadLettered = 0;
  CHECK(rules.evaluate({s}, clock.nowMillis()).empty());
  s.counters.deadLettered = 2;
  CHECK(names(rules.evaluate({s}, clock.nowMillis())) ==
        std::vector<std::string>{"dead-letters/firing"});

  DestinationStatus other = healthy("lab");
  other.notSent = 3;
  other.queueDepth = 4;
  other.oldestPendingAgeMillis = 60 * kMinute;  // not older than the threshold
  CHECK(names(rules.evaluate({s, other}, clock.nowMillis())) ==
        std::vector<std::string>{"not-sent/firing"});
  other.oldestPendingAgeMillis = 61 * kMinute;
  std::vector<Alert> old = rules.evaluate({s, other}, clock.nowMillis());
  REQUIRE(names(old) == std::vector<std::string>{"oldest-pending-age/firing"});
  CHECK(old[0].destination == "lab");
  CHECK(old[0].summary.find("has waited 61 min (alert after 60 min)") != std::string::npos);

  // A destination no longer listed resolves what it had firing.
  CHECK(names(rules.evaluate({other}, clock.nowMillis())) ==
        std::vector<std::string>{"dead-letters/resolved"});
  // A rule turned off resolves at the next evaluation.
  config.notSent = false;
  rules.reconfigure(config, 0);
  CHECK(names(rules.evaluate({other}, clock.nowMillis())) ==
        std::vector<std::string>{"not-sent/resolved"});
}

TEST_CASE("alert rules: every rejected reload fires, the next applied one resolves",
          "[gateway][alerts]") {
  AlertRules rules;
  CHECK(rules.reloadApplied(1).empty());
  std::vector<Alert> first = rules.reloadRejected("destinations", 2, 1);
  REQUIRE(names(first) == std::vector<std::string>{"reload-rejected/firing"});
  CHECK(first[0].destination.empty());
  CHECK(textOf(first[0].details, "stage") == "destinations");
  CHECK(textOf(first[0].details, "errors") == "2");
  CHECK(names(rules.reloadRejected("config", 1, 2)) ==
        std::vector<std::string>{"reload-rejected/repeat"});
  CHECK(names(rules.reloadApplied(3)) == std::vector<std::string>{"reload-rejected/resolved"});
  CHECK(rules.reloadApplied(4).empty());

  AlertRulesConfig off;
  off.reloadRejected = false;
  AlertRules quiet(off);
  CHECK(quiet.reloadRejected("config", 1, 1).empty());
}

TEST_CASE("alerter: posts each transition to every webhook, retries, counts what fails",
          "[gateway][alerts]") {
  FaultReceiver hook;
  hook.script({Step::respond(500), Step::respond(204)});  // the first post is taken on retry
  FaultReceiver down;
  down.setDefault(Step::respond(503));
  TempDir secrets;
  writeFile(secrets.path() / "ops.auth", "Bearer alert-secret-for-tests\n");

  AlertsConfig config;
  config.instance = "gw-test";
  config.webhooks.push_back(webhookTo(hook));
  config.webhooks[0].headers.push_back({"X-Team", "ops"});
  config.webhooks[0].secretHeaders.push_back(
      {"Authorization",
       {inloop::mappings::SecretSource::kFile, (secrets.path() / "ops.auth").string()}});
  config.webhooks.push_back(webhookTo(down, "down"));
  config.webhooks[1].attempts = 2;

  ManualClock clock;
  DestinationStatus status = healthy();
  std::mutex statusMutex;
  std::ostringstream log;
  inloop::gateway::JsonLogger logger(log, inloop::gateway::LogLevel::kInfo);
  AlerterDeps deps;
  deps.statuses = [&] {
    std::lock_guard<std::mutex> lock(statusMutex);
    return std::vector<DestinationStatus>{status};
  };
  deps.clock = &clock;
  deps.logger = &logger;
  deps.retryBaseMillis = 1;
  inloop::gateway::ChangeSignal changes;  // notified after each webhook post
  deps.changes = &changes;
  Alerter alerter(config, std::move(deps));
  alerter.start();  // evaluates once at once: nothing to say

  {
    std::lock_guard<std::mutex> lock(statusMutex);
    status.notSent = 2;
    status.health = "degraded";
  }
  alerter.evaluateNow();
  // The same notification twice: refused (500), then taken on the retry.
  REQUIRE(waitUntil(changes, [&] { return posted(hook, "not-sent").size() == 2; }));
  REQUIRE(waitUntil(changes, [&] {
    return alerter.renderMetrics().find(
               "inloop_alert_webhook_failures_total{webhook=\"down\"} 1") != std::string::npos;
  }));
  CHECK(hook.requestCount() == 2);
  CHECK(down.requestCount() == 2);  // attempts: 2
  const ReceivedRequest req = hook.requests().back();
  CHECK(req.method == "POST");
  CHECK(req.target == "/hooks/inloop");
  CHECK(req.header("Content-Type") == "application/json");
  CHECK(req.header("Authorization") == "Bearer alert-secret-for-tests");
  CHECK(req.header("X-Team") == "ops");
  const Json body = *inloop::fhir::parseJson(req.body);
  CHECK(textOf(body, "alert") == "not-sent");
  CHECK(textOf(body, "state") == "firing");
  CHECK(textOf(body, "destination") == "ehr");
  CHECK(textOf(body, "source") == "inloop");
  CHECK(textOf(body, "instance") == "gw-test");
  CHECK(textOf(body, "at") == inloop::gateway::formatInstant(clock.nowMillis()));
  REQUIRE(body.find("details") != nullptr);
  CHECK(textOf(*body.find("details"), "notSent") == "2");

  {
    std::lock_guard<std::mutex> lock(statusMutex);
    status.notSent = 0;
  }
  alerter.evaluateNow();
  REQUIRE(waitUntil(changes, [&] { return posted(hook, "not-sent", "resolved").size() == 1; }));
  const std::string metrics = alerter.renderMetrics();
  CHECK(metrics.find("inloop_alerts_total{alert=\"not-sent\"} 1") != std::string::npos);
  CHECK(metrics.find("inloop_alerts_firing{alert=\"not-sent\"} 0") != std::string::npos);
  CHECK(metrics.find("inloop_alert_webhook_failures_total{webhook=\"ops\"} 0") !=
        std::string::npos);
  alerter.stop();
  const std::string lines = log.str();
  CHECK(lines.find("\"event\":\"alert-fired\",\"alert\":\"not-sent\"") != std::string::npos);
  CHECK(lines.find("\"event\":\"alert-resolved\",\"alert\":\"not-sent\"") != std::string::npos);
  CHECK(lines.find("\"event\":\"alert-webhook-failed\",\"webhook\":\"down\"") != std::string::npos);
  CHECK(lines.find("alert-secret-for-tests") == std::string::npos);
}

TEST_CASE(
    "daemon alerts: a destination that dead-letters and a rejected reload reach a webhook, "
    "without patient data",
    "[gateway][alerts][delivery]") {
  FaultReceiver ehr;
  ehr.setDefault(Step::operationOutcome(422, "invalid", "Observation.code: not known here"));
  ehr.setHandler([](const ReceivedRequest& r) -> std::optional<Step> {
    if (r.method == "GET") return Step::respond(404);  // no CapabilityStatement
    return std::nullopt;
  });
  FaultReceiver hook;
  hook.setDefault(Step::respond(200, "ok"));
  TempDir files;
  const std::filesystem::path destinations = files.path() / "destinations.json";
  writeFile(destinations, R"({
    "destinations": [{"id": "ehr", "kind": "fhir-transaction", "endpoint": ")" +
                              ehr.url("/fhir") + R"("}],
    "routes": {"riverside-family-medicine": ["ehr"]}
  })");
  DaemonFixture d(
      [&](inloop::gateway::DaemonConfig& c) {
        c.destinationsFile = destinations.string();
        c.alerts.evaluateEveryMs = 20;
        c.alerts.webhooks.push_back(webhookTo(hook, "ops-chat"));
      },
      FixtureStore::kMemory);
  REQUIRE(d.startError().empty());

  REQUIRE(
      d.request("POST", "/records", kAdminToken, measurement("AL-1", 1, "MRN-ALERT-1")).status ==
      202);
  REQUIRE(waitUntil(d.changes(), [&] { return !posted(hook, "dead-letters").empty(); }));
  const Json alert = posted(hook, "dead-letters").front();
  CHECK(textOf(alert, "destination") == "ehr");
  CHECK(textOf(alert, "summary").find("1 message dead-lettered for ehr") != std::string::npos);
  REQUIRE(alert.find("details") != nullptr);
  CHECK(textOf(*alert.find("details"), "deadLetters") == "1");
  for (const ReceivedRequest& r : hook.requests()) {
    CHECK(r.body.find("MRN-ALERT-1") == std::string::npos);
    CHECK(r.body.find("RFM-1") == std::string::npos);
    CHECK(r.body.find("AL-1") == std::string::npos);
    CHECK(r.body.find("not known here") == std::string::npos);
  }

  // A rejected reload tells the webhook at once; the old destinations keep serving.
  writeFile(destinations, R"({"destinations": [{"id": "ehr"}], "routes": {}})");
  CHECK(d.request("POST", "/admin/reload", kAdminToken).status == 422);
  REQUIRE(waitUntil(d.changes(), [&] { return !posted(hook, "reload-rejected").empty(); }));
  const Json rejected = posted(hook, "reload-rejected").front();
  CHECK(rejected.find("destination")->isNull());
  CHECK(textOf(*rejected.find("details"), "stage") == "destinations");

  const std::string metrics = d.request("GET", "/metrics", kReadToken).body;
  CHECK(metrics.find("inloop_alerts_total{alert=\"dead-letters\"} 1") != std::string::npos);
  CHECK(metrics.find("inloop_alerts_total{alert=\"reload-rejected\"} 1") != std::string::npos);
  CHECK(metrics.find("inloop_alert_webhook_failures_total{webhook=\"ops-chat\"} 0") !=
        std::string::npos);
  const std::string log = d.stopAndLog();
  CHECK(log.find("\"event\":\"alert-fired\",\"alert\":\"dead-letters\"") != std::string::npos);
  CHECK(log.find("MRN-ALERT-1") == std::string::npos);
}

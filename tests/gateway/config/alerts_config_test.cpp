// The "alerts" section of inloop.json (gateway/config/daemon_config.h): defaults,
// every setting, and errors with file:line:column that never echo a secret.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/config/daemon_config.h"

using inloop::gateway::AlertsConfig;

TEST_CASE("alerts config: defaults, a full section, and errors with file:line:column",
          "[gateway][alerts][config]") {
  auto parse = [](const std::string& text) {
    return inloop::gateway::parseDaemonConfig(text, "inloop.json", "/etc/inloop");
  };
  inloop::gateway::DaemonConfigLoad none = parse("{}");
  REQUIRE(none.config);
  CHECK(none.config->alerts == AlertsConfig{});
  CHECK(none.config->alerts.webhooks.empty());
  CHECK(none.config->alerts.rules.deadLetters);
  // The shipped file says the defaults ("the values below are the defaults").
  inloop::gateway::DaemonConfigLoad shipped =
      inloop::gateway::readDaemonConfigFile(std::string(INLOOP_SOURCE_DIR) + "/config/inloop.json");
  REQUIRE(shipped.config);
  CHECK(shipped.config->alerts == AlertsConfig{});

  inloop::gateway::DaemonConfigLoad full = parse(R"({
  "alerts": {
    "instance": "gw-1", "evaluateEveryMs": 5000, "repeatMs": 0,
    "rules": {"deadLetters": {"count": 3, "intervalMs": 60000}, "circuitOpen": false,
              "notSent": true, "oldestPendingAgeMs": false, "reloadRejected": true},
    "webhooks": [
      {"id": "ops-chat", "url": "https://chat.example.org/hooks/T1", "timeoutMs": 3000,
       "attempts": 2, "headers": {"X-Team": "ops"},
       "secretHeaders": {"Authorization": {"file": "secrets/ops.auth"}}},
      {"id": "pager", "url": {"env": "PAGER_WEBHOOK_URL"}, "caFile": "ca.pem"}
    ]
  }
})");
  INFO(inloop::fhir::formatIssues(full.issues));
  REQUIRE(full.config);
  const AlertsConfig& a = full.config->alerts;
  CHECK(a.instance == "gw-1");
  CHECK(a.evaluateEveryMs == 5000);
  CHECK(a.repeatMs == 0);
  CHECK(a.rules.deadLetterCount == 3);
  CHECK(a.rules.deadLetterIntervalMs == 60000);
  CHECK_FALSE(a.rules.circuitOpen);
  CHECK(a.rules.oldestPendingAgeMs == 0);
  REQUIRE(a.webhooks.size() == 2);
  CHECK(a.webhooks[0].attempts == 2);
  REQUIRE(a.webhooks[0].headers.size() == 1);
  REQUIRE(a.webhooks[0].secretHeaders.size() == 1);
  CHECK(a.webhooks[0].secretHeaders[0].value.name == "/etc/inloop/secrets/ops.auth");
  CHECK(a.webhooks[1].url.empty());
  CHECK(a.webhooks[1].urlSecret.name == "PAGER_WEBHOOK_URL");
  CHECK(a.webhooks[1].caFile == "/etc/inloop/ca.pem");

  auto errorsOf = [&](const std::string& text) {
    inloop::gateway::DaemonConfigLoad load = parse(text);
    CHECK_FALSE(load.config);
    return inloop::fhir::formatIssues(load.issues);
  };
  const std::string inlineSecret = errorsOf(R"({"alerts": {"webhooks": [
  {"id": "ops", "url": "https://h.example.org/x",
   "secretHeaders": {"Authorization": "Bearer abc"}}]}})");
  INFO(inlineSecret);
  CHECK(inlineSecret.find("inloop.json:3:39") != std::string::npos);
  CHECK(inlineSecret.find("never written in this file") != std::string::npos);
  CHECK(inlineSecret.find("abc") == std::string::npos);

  const std::string credentialHeader = errorsOf(
      R"({"alerts": {"webhooks": [{"id": "ops", "url": "http://h.example.org", "headers": {"Authorization": "Bearer x"}}]}})");
  INFO(credentialHeader);
  CHECK(credentialHeader.find("inloop.json:1:100") != std::string::npos);
  CHECK(credentialHeader.find("secretHeaders") != std::string::npos);

  // A header value with a control character is refused without echoing it.
  const std::string controlValue = errorsOf(
      R"({"alerts": {"webhooks": [{"id": "ops", "url": "http://h.example.org", "headers": {"X-Team": "pain\u0007desk"}}]}})");
  INFO(controlValue);
  CHECK(controlValue.find("$.alerts.webhooks[0].headers.X-Team: expected a header value without "
                          "control characters") != std::string::npos);
  CHECK(controlValue.find("desk") == std::string::npos);

  const std::string badUrl = errorsOf(
      "{\"alerts\": {\n  \"webhooks\": [{\"id\": \"ops\", "
      "\"url\": \"ftp://h.example.org\"}]}}");
  INFO(badUrl);
  CHECK(badUrl.find("inloop.json:2:37") != std::string::npos);
  CHECK(badUrl.find("http:// or https://") != std::string::npos);

  const std::string unknown = errorsOf("{\"alerts\": {\"rules\": {\"deadLetter\": true}}}");
  INFO(unknown);
  CHECK(unknown.find("inloop.json:1:23: $.alerts.rules.deadLetter: unknown field \"deadLetter\"; "
                     "did you mean \"deadLetters\"?") != std::string::npos);

  const std::string rules = errorsOf(
      "{\"alerts\": {\"repeatMs\": -1, \"rules\": {\"deadLetters\": 3, "
      "\"oldestPendingAgeMs\": 10}}}");
  INFO(rules);
  CHECK(rules.find("error inloop.json:1:25: $.alerts.repeatMs: expected an integer from 0") !=
        std::string::npos);
  CHECK(
      rules.find("error inloop.json:1:54: $.alerts.rules.deadLetters: expected true, false or ") !=
      std::string::npos);
  CHECK(rules.find(
            "error inloop.json:1:79: $.alerts.rules.oldestPendingAgeMs: expected an integer ") !=
        std::string::npos);

  const std::string dup = errorsOf(
      R"({"alerts": {"webhooks": [{"id": "a", "url": "http://x.example"}, {"id": "a", "url": "http://y.example"}, {"url": "http://z.example"}]}})");
  INFO(dup);
  CHECK(
      dup.find("error inloop.json:1:106: $.alerts.webhooks[2].id: missing required field \"id\"") !=
      std::string::npos);
  // The duplicate shows once every webhook is sound.
  const std::string twice = errorsOf(
      R"({"alerts": {"webhooks": [{"id": "a", "url": "http://x.example"}, {"id": "a", "url": "http://y.example"}]}})");
  INFO(twice);
  CHECK(twice.find("error inloop.json:1:73: $.alerts.webhooks[1].id: \"a\" is listed twice") !=
        std::string::npos);
}

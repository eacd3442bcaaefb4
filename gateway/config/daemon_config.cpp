#include "gateway/config/daemon_config.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "fhir/binding.h"
#include "fhir/json.h"
#include "gateway/base/url_origin.h"
#include "gateway/config/config_fields.h"

namespace inloop::gateway {

namespace {

constexpr std::size_t kMaxConfigBytes = 1u << 20;

namespace bind = fhir::bind;
using config_fields::FileName;
using config_fields::HttpUrl;
using config_fields::Secret;
using fhir::Json;

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kHourMs = 3'600'000;

const char* checkLowerHex64(std::string_view s) {
  const bool ok = s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                  });
  return ok ? nullptr : "expected 64 lower-case hex digits (inloop hash-token)";
}

// A non-empty list of role names.
const bind::Custom<RoleSet> kRoles{
    [](bind::Reading& r, const Json& v, const bind::Path& p, RoleSet* out) {
      static constexpr std::string_view kNames[] = {"ingest", "read", "admin", "metrics"};
      std::vector<std::string> names;
      if (!bind::List<bind::Text>{.minItems = 1}.read(r, v, p, &names)) return false;
      bool ok = true;
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (std::optional<Role> role = roleFromName(names[i])) {
          out->add(*role);
        } else {
          r.notOneOf(v.items()[i], p.item(i), kNames);
          ok = false;
        }
      }
      return ok;
    },
    [](const RoleSet& roles) {
      Json a = Json::array();
      for (Role role : {Role::kIngest, Role::kRead, Role::kAdmin, Role::kMetrics}) {
        if (roles.has(role)) a.push(Json::string(roleName(role)));
      }
      return a;
    }};

const bind::Fields<TokenConfig>& tokenFields() {
  using T = TokenConfig;
  static const bind::Fields<T> fields{
      bind::field("id", &T::id, bind::kRequired, bind::Text{}),
      bind::field("sha256", &T::sha256Hex, bind::kRequired,
                  bind::Text{.check = checkLowerHex64, .quoteValue = false}),
      bind::field("roles", &T::roles, bind::kRequired, kRoles),
  };
  return fields;
}

const bind::Fields<ClientPrincipalConfig>& clientPrincipalFields() {
  using C = ClientPrincipalConfig;
  static const bind::Fields<C> fields{
      bind::field("subject", &C::subject, bind::kRequired, bind::Text{}),
      bind::field("id", &C::id, bind::kRequired, bind::Text{}),
      bind::field("roles", &C::roles, bind::kRequired, kRoles),
  };
  return fields;
}

bind::Fields<TlsConfig> tlsFields(const std::string& baseDir) {
  using T = TlsConfig;
  return bind::Fields<T>{
      {
          bind::field("certificateFile", &T::certificateFile, bind::kRequired, FileName{baseDir}),
          bind::field("privateKeyFile", &T::privateKeyFile, bind::kRequired, FileName{baseDir}),
          bind::field("caFile", &T::caFile, bind::kOptional, FileName{baseDir}),
          bind::field("verifyClient", &T::verifyClient, bind::kOptional,
                      bind::Enum<ClientVerification>{{"none", ClientVerification::kNone},
                                                     {"optional", ClientVerification::kOptional},
                                                     {"required", ClientVerification::kRequired}}),
          bind::field(
              "clientPrincipals", &T::clientPrincipals, bind::kOptional,
              bind::List<bind::Object<ClientPrincipalConfig>>{.item = {clientPrincipalFields}}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, T* tls) {
        if (tls->verifyClient != ClientVerification::kNone && tls->caFile.empty()) {
          r.error("required", object, p,
                  "\"verifyClient\" needs \"caFile\" (the CA that signs client certificates)");
        }
      }};
}

bind::Integer<std::int64_t> millis(std::int64_t min, std::int64_t max) {
  return bind::Integer<std::int64_t>{.min = min, .max = max};
}

const bind::Fields<DeliveryConfig>& deliveryFields() {
  using D = DeliveryConfig;
  static const bind::Fields<D> fields{
      bind::field("backoffBaseMs", &D::backoffBaseMs, bind::kOptional, millis(1, kDayMs)),
      bind::field("backoffCapMs", &D::backoffCapMs, bind::kOptional, millis(1, kDayMs)),
      bind::field("alertAgeMs", &D::alertAgeMs, bind::kOptional, millis(1000, 30 * kDayMs)),
      bind::field("breakerFailures", &D::breakerFailures, bind::kOptional,
                  bind::Integer<int>{.min = 1, .max = 1000}),
      bind::field("breakerOpenMs", &D::breakerOpenMs, bind::kOptional, millis(1, kDayMs)),
      bind::field("leaseMs", &D::leaseMs, bind::kOptional, millis(1000, kDayMs)),
  };
  return fields;
}

const bind::Fields<ServerLimits>& limitFields() {
  using L = ServerLimits;
  using Size = bind::Integer<std::size_t>;
  using Int = bind::Integer<int>;
  static const bind::Fields<L> fields{
      bind::field("maxBodyBytes", &L::maxBodyBytes, bind::kOptional,
                  Size{.min = 1024, .max = std::int64_t{1} << 30}),
      bind::field("maxBatchBytes", &L::maxBatchBytes, bind::kOptional,
                  Size{.min = 1024, .max = std::int64_t{4} << 30}),
      bind::field("maxBatchRecords", &L::maxBatchRecords, bind::kOptional,
                  Size{.min = 1, .max = 1'000'000}),
      bind::field("maxHeaderFields", &L::maxHeaderFields, bind::kOptional,
                  Size{.min = 8, .max = 100}),
      bind::field("requestTimeoutMs", &L::requestTimeoutMs, bind::kOptional, millis(100, kHourMs)),
      bind::field("requestDeadlineMs", &L::requestDeadlineMs, bind::kOptional,
                  millis(100, kHourMs)),
      bind::field("headerDeadlineMs", &L::headerDeadlineMs, bind::kOptional, millis(100, kHourMs)),
      bind::field("keepAliveTimeoutMs", &L::keepAliveTimeoutMs, bind::kOptional,
                  millis(100, kHourMs)),
      bind::field("maxKeepAliveRequests", &L::maxKeepAliveRequests, bind::kOptional,
                  Int{.min = 0, .max = 1'000'000'000}),
      bind::field("maxThreads", &L::maxThreads, bind::kOptional, Int{.min = 1, .max = 1024}),
      bind::field("maxQueuedConnections", &L::maxQueuedConnections, bind::kOptional,
                  Int{.min = 1, .max = 65536}),
      bind::field("maxConnectionsPerClient", &L::maxConnectionsPerClient, bind::kOptional,
                  Int{.min = 1, .max = 65536}),
      bind::field("maxInFlight", &L::maxInFlight, bind::kOptional, Int{.min = 1, .max = 65536}),
      bind::field("maxConcurrentBatches", &L::maxConcurrentBatches, bind::kOptional,
                  Int{.min = 1, .max = 1024}),
      bind::field("retryAfterSeconds", &L::retryAfterSeconds, bind::kOptional,
                  Int{.min = 1, .max = 3600}),
  };
  return fields;
}

bind::Fields<InboxConfig> inboxFields(const std::string& baseDir) {
  using I = InboxConfig;
  return bind::Fields<I>{
      bind::field("enabled", &I::enabled, bind::kOptional, bind::Boolean{}),
      bind::field("dir", &I::dir, bind::kOptional, FileName{baseDir}),
      bind::field("pollIntervalMs", &I::pollIntervalMs, bind::kOptional, millis(10, kHourMs)),
      bind::field("maxFileBytes", &I::maxFileBytes, bind::kOptional,
                  bind::Integer<std::size_t>{.min = 1024, .max = std::int64_t{4} << 30}),
  };
}

const bind::Fields<RetentionConfig>& retentionFields() {
  using R = RetentionConfig;
  static const bind::Fields<R> fields{
      bind::field("purgeAfterDays", &R::purgeAfterDays, bind::kOptional,
                  bind::Integer<>{.min = 0, .max = 36'500}),
      bind::field("intervalMinutes", &R::intervalMinutes, bind::kOptional,
                  bind::Integer<>{.min = 1, .max = 10'080}),
  };
  return fields;
}

bind::Fields<EncryptionConfig> encryptionFields(const std::string& baseDir) {
  return bind::Fields<EncryptionConfig>{
      bind::field("keyFile", &EncryptionConfig::keyFile, bind::kOptional, FileName{baseDir}),
  };
}

// Header names a webhook may not set: inloop sets them, or (credentials) they
// belong in "secretHeaders"; nullptr when allowed.
const char* headerRefusal(std::string_view name, bool secret) {
  std::string lname(name);
  std::transform(lname.begin(), lname.end(), lname.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view own :
       {"host", "content-length", "content-type", "transfer-encoding", "connection"}) {
    if (lname == own) return "inloop sets this header itself";
  }
  if (!secret && (lname.find("auth") != std::string::npos || lname == "cookie")) {
    return "credentials belong in \"secretHeaders\", never inline";
  }
  return nullptr;
}

const char* plainHeaderRefusal(std::string_view name) { return headerRefusal(name, false); }
const char* secretHeaderRefusal(std::string_view name) { return headerRefusal(name, true); }

bind::Fields<AlertWebhookConfig> webhookFields(const std::string& baseDir) {
  using W = AlertWebhookConfig;
  return bind::Fields<W>{{
      bind::field("id", &W::id, bind::kRequired, bind::Text{.check = config_fields::checkId}),
      // An http(s) URL, or a secret reference when the URL itself is a secret.
      bind::computedField<W>("url", bind::kRequired,
                             [baseDir](bind::Reading& r, const Json& v, const bind::Path& p, W* w) {
                               if (v.isObject()) {
                                 return Secret{baseDir}.read(r, v, p, &w->urlSecret);
                               }
                               return HttpUrl{.allowQuery = true}.read(r, v, p, &w->url);
                             }),
      bind::field(
          "headers", &W::headers, bind::kOptional,
          config_fields::headerMap<mappings::HeaderField>(
              plainHeaderRefusal,
              // Never echoed, as for destinations' headers.
              bind::Text{
                  .minChars = 0, .check = config_fields::checkHeaderValue, .quoteValue = false})),
      bind::field(
          "secretHeaders", &W::secretHeaders, bind::kOptional,
          config_fields::headerMap<SecretHeaderConfig>(secretHeaderRefusal, Secret{baseDir})),
      bind::field("caFile", &W::caFile, bind::kOptional, FileName{baseDir}),
      bind::field("timeoutMs", &W::timeoutMs, bind::kOptional, millis(100, 600'000)),
      bind::field("attempts", &W::attempts, bind::kOptional,
                  bind::Integer<int>{.min = 1, .max = 20}),
  }};
}

const bind::Fields<AlertRulesConfig>& deadLetterRuleFields() {
  using A = AlertRulesConfig;
  static const bind::Fields<A> fields{
      bind::field("count", &A::deadLetterCount, bind::kOptional,
                  bind::Integer<int>{.min = 1, .max = 1'000'000}),
      bind::field("intervalMs", &A::deadLetterIntervalMs, bind::kOptional,
                  millis(1000, 30 * kDayMs)),
  };
  return fields;
}

// Each rule is `false` (off), `true` (on, defaults) or, for the ones with a
// threshold, its settings.
const bind::Fields<AlertRulesConfig>& alertRuleFields() {
  using A = AlertRulesConfig;
  static const bind::Fields<A> fields{
      bind::computedField<A>(
          "deadLetters", bind::kOptional,
          [](bind::Reading& r, const Json& v, const bind::Path& p, A* a) {
            if (v.isBool()) return a->deadLetters = v.asBool(), true;
            if (!v.isObject()) {
              return r.wrongType(v, p, "true, false or {\"count\": N, \"intervalMs\": MS}"), false;
            }
            a->deadLetters = true;
            return bind::readObject(r, v, p, deadLetterRuleFields(), a);
          }),
      bind::field("circuitOpen", &A::circuitOpen, bind::kOptional, bind::Boolean{}),
      bind::field("notSent", &A::notSent, bind::kOptional, bind::Boolean{}),
      bind::computedField<A>(
          "oldestPendingAgeMs", bind::kOptional,
          [](bind::Reading& r, const Json& v, const bind::Path& p, A* a) {
            if (v.isBool() && !v.asBool()) return a->oldestPendingAgeMs = 0, true;
            return millis(1000, 30 * kDayMs).read(r, v, p, &a->oldestPendingAgeMs);
          }),
      bind::field("reloadRejected", &A::reloadRejected, bind::kOptional, bind::Boolean{}),
  };
  return fields;
}

bind::Fields<AlertsConfig> alertsFields(const std::string& baseDir) {
  using A = AlertsConfig;
  return bind::Fields<A>{
      {
          bind::field("instance", &A::instance, bind::kOptional, bind::Text{}),
          bind::field("evaluateEveryMs", &A::evaluateEveryMs, bind::kOptional,
                      millis(100, kHourMs)),
          bind::field("repeatMs", &A::repeatMs, bind::kOptional, millis(0, 30 * kDayMs)),
          bind::field("rules", &A::rules, bind::kOptional,
                      bind::Object<AlertRulesConfig>{alertRuleFields}),
          bind::field(
              "webhooks", &A::webhooks, bind::kOptional,
              bind::List<bind::Object<AlertWebhookConfig>>{.item = {webhookFields(baseDir)}}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, A* alerts) {
        bind::refuseRepeats(r, object, p, "webhooks", alerts->webhooks, &AlertWebhookConfig::id,
                            "id");
      }};
}

bind::Fields<DaemonConfig> daemonFields(const std::string& baseDir) {
  using D = DaemonConfig;
  return bind::Fields<D>{
      {
          bind::computedField<D>("listen", bind::kOptional,
                                 [](bind::Reading& r, const Json& v, const bind::Path& p, D* d) {
                                   std::string s;
                                   if (!bind::Text{}.read(r, v, p, &s)) return false;
                                   fhir::Status st = parseListen(s, &d->host, &d->port);
                                   if (!st.isOk()) r.error("value", v, p, st.message());
                                   return st.isOk();
                                 }),
          bind::field("dataDir", &D::dataDir, bind::kOptional, FileName{baseDir}),
          bind::field("mappingsDir", &D::mappingsDir, bind::kOptional, FileName{baseDir}),
          bind::field("tokens", &D::tokens, bind::kOptional,
                      bind::List<bind::Object<TokenConfig>>{.item = {tokenFields}}),
          // null: plain HTTP, as when absent.
          bind::computedField<D>(
              "tls", bind::kOptional,
              [baseDir](bind::Reading& r, const Json& v, const bind::Path& p, D* d) {
                if (v.isNull()) return true;
                TlsConfig tls;
                if (!bind::readObject(r, v, p, tlsFields(baseDir), &tls)) {
                  return false;
                }
                d->tls = std::move(tls);
                return true;
              }),
          bind::field("limits", &D::limits, bind::kOptional,
                      bind::Object<ServerLimits>{limitFields}),
          bind::field("metricsRequireAuth", &D::metricsRequireAuth, bind::kOptional,
                      bind::Boolean{}),
          bind::field("storeQueueCapacity", &D::storeQueueCapacity, bind::kOptional,
                      bind::Integer<std::size_t>{.min = 1, .max = 10'000'000}),
          bind::field("storeBusyTimeoutMs", &D::storeBusyTimeoutMs, bind::kOptional,
                      millis(10, 600'000)),
          bind::field("logLevel", &D::logLevel, bind::kOptional,
                      bind::Enum<std::string>{{"debug", "debug"},
                                              {"info", "info"},
                                              {"warning", "warning"},
                                              {"error", "error"}}),
          bind::field("destinationsFile", &D::destinationsFile, bind::kOptional, FileName{baseDir}),
          bind::field("delivery", &D::delivery, bind::kOptional,
                      bind::Object<DeliveryConfig>{deliveryFields}),
          bind::field("inbox", &D::inbox, bind::kOptional,
                      bind::Object<InboxConfig>{inboxFields(baseDir)}),
          bind::field("alerts", &D::alerts, bind::kOptional,
                      bind::Object<AlertsConfig>{alertsFields(baseDir)}),
          bind::field("retention", &D::retention, bind::kOptional,
                      bind::Object<RetentionConfig>{retentionFields}),
          bind::field("encryption", &D::encryption, bind::kOptional,
                      bind::Object<EncryptionConfig>{encryptionFields(baseDir)}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, D* d) {
        bind::refuseRepeats(r, object, p, "tokens", d->tokens, &TokenConfig::id, "id");
      }};
}

}  // namespace

const char* roleName(Role role) {
  switch (role) {
    case Role::kIngest:
      return "ingest";
    case Role::kRead:
      return "read";
    case Role::kAdmin:
      return "admin";
    case Role::kMetrics:
      return "metrics";
  }
  return "unknown";
}

std::optional<Role> roleFromName(std::string_view name) {
  if (name == "ingest") return Role::kIngest;
  if (name == "read") return Role::kRead;
  if (name == "admin") return Role::kAdmin;
  if (name == "metrics") return Role::kMetrics;
  return std::nullopt;
}

bool listensInClear(const DaemonConfig& config) {
  return !config.tls && !isLoopbackHost(config.host);
}

fhir::Status parseListen(std::string_view text, std::string* host, std::uint16_t* port) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "listen address \"" + std::string(text) + "\" must be HOST:PORT");
  }
  std::string_view h = text.substr(0, colon);
  std::string_view p = text.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value > 65535) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "listen port \"" + std::string(p) + "\" must be a number from 0 to 65535");
  }
  *host = h.empty() ? std::string("0.0.0.0") : std::string(h);
  *port = static_cast<std::uint16_t>(value);
  return fhir::Status::ok();
}

DaemonConfigLoad parseDaemonConfig(std::string_view text, const std::string& fileName,
                                   const std::string& baseDir) {
  DaemonConfigLoad load;
  fhir::JsonLimits limits;
  limits.maxBytes = kMaxConfigBytes;
  limits.allowComments = true;
  fhir::JsonParseError where;
  fhir::Result<fhir::Json> doc = fhir::parseJson(text, limits, &where);
  if (!doc.isOk()) {
    fhir::addError(&load.issues, "structure",
                   fileName + ":" + std::to_string(where.line) + ":" + std::to_string(where.column),
                   "not valid JSON: " + where.reason);
    return load;
  }
  bind::Reading reading(&load.issues, fileName, text);
  DaemonConfig config;
  // Defaults that are paths are relative to the config file's folder too.
  if (!baseDir.empty()) {
    config.dataDir = (std::filesystem::path(baseDir) / "../var").lexically_normal().string();
    config.mappingsDir = (std::filesystem::path(baseDir) / "mappings").lexically_normal().string();
  }
  bind::readObject(reading, *doc, bind::Path(), daemonFields(baseDir), &config);
  if (!fhir::hasErrors(load.issues)) load.config = std::move(config);
  return load;
}

std::string storePathIn(const std::string& dataDir) {
  return (std::filesystem::path(dataDir) / kStoreFileName).string();
}

std::string inboxDirOf(const DaemonConfig& config) {
  return config.inbox.dir.empty() ? (std::filesystem::path(config.dataDir) / "inbox").string()
                                  : config.inbox.dir;
}

DaemonConfigLoad readDaemonConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in.is_open()) text << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    DaemonConfigLoad load;
    fhir::addError(&load.issues, "exception", path, "cannot read the configuration file");
    return load;
  }
  std::string baseDir = std::filesystem::absolute(std::filesystem::path(path))
                            .lexically_normal()
                            .parent_path()
                            .string();
  return parseDaemonConfig(text.str(), path, baseDir);
}

fhir::Status applyOverrides(const ConfigOverrides& overrides, DaemonConfig* config) {
  if (!overrides.listen.empty()) {
    fhir::Status st = parseListen(overrides.listen, &config->host, &config->port);
    if (!st.isOk()) return fhir::Status(st.code(), "--listen: " + st.message());
  }
  if (!overrides.dataDir.empty()) config->dataDir = overrides.dataDir;
  if (!overrides.destinationsFile.empty()) config->destinationsFile = overrides.destinationsFile;
  config->routeFlags = overrides.routeFlags;
  config->tokens.insert(config->tokens.end(), overrides.extraTokens.begin(),
                        overrides.extraTokens.end());
  config->overrides = overrides;
  return fhir::Status::ok();
}

DaemonConfigLoad rereadDaemonConfig(const DaemonConfig& running) {
  if (running.configFile.empty()) return DaemonConfigLoad{running, {}};
  DaemonConfigLoad load = readDaemonConfigFile(running.configFile);
  if (!load.config) return load;
  load.config->configFile = running.configFile;
  fhir::Status st = applyOverrides(running.overrides, &*load.config);
  if (!st.isOk()) {
    fhir::addError(&load.issues, "invalid", running.configFile, st.message());
    load.config.reset();
  }
  return load;
}

std::vector<std::string> settingsNeedingRestart(const DaemonConfig& running,
                                                const DaemonConfig& next) {
  std::vector<std::string> names;
  auto check = [&](const char* name, bool same) {
    if (!same) names.emplace_back(name);
  };
  check("listen", running.host == next.host && running.port == next.port);
  check("dataDir", running.dataDir == next.dataDir);
  check("tls", running.tls == next.tls);
  check("limits", running.limits == next.limits);
  check("storeQueueCapacity", running.storeQueueCapacity == next.storeQueueCapacity);
  check("storeBusyTimeoutMs", running.storeBusyTimeoutMs == next.storeBusyTimeoutMs);
  check("delivery", running.delivery == next.delivery);
  check("inbox", running.inbox == next.inbox);
  check("retention", running.retention == next.retention);
  check("encryption", running.encryption == next.encryption);
  return names;
}

}  // namespace inloop::gateway

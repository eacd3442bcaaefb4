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

#include "fhir/json.h"
#include "gateway/base/url_origin.h"

namespace inloop::gateway {

namespace {

constexpr std::size_t kMaxConfigBytes = 1u << 20;

// Walks one config document, collecting issues with file:line:column paths.
class ConfigReader {
 public:
  ConfigReader(std::string_view text, std::string fileName, std::string baseDir)
      : text_(text), fileName_(std::move(fileName)), baseDir_(std::move(baseDir)) {}

  fhir::Issues& issues() { return issues_; }

  std::string where(const fhir::Json& node) const {
    auto [line, column] = fhir::lineColumnAt(text_, node.sourceOffset());
    return fileName_ + ":" + std::to_string(line) + ":" + std::to_string(column);
  }

  void error(const fhir::Json& node, std::string message) {
    fhir::addError(&issues_, "value", where(node), std::move(message));
  }

  // Calls `handle(key, value)` for each member; reports keys not in `known`.
  void members(const fhir::Json& object, std::string_view what,
               std::initializer_list<std::string_view> known,
               const std::function<void(const std::string&, const fhir::Json&)>& handle) {
    if (!object.isObject()) {
      error(object, std::string(what) + " must be an object");
      return;
    }
    for (const auto& [key, value] : object.members()) {
      bool isKnown = false;
      for (std::string_view k : known) isKnown = isKnown || k == key;
      if (!isKnown) {
        std::string list;
        for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(value,
              "unknown setting \"" + key + "\" in " + std::string(what) + " (known: " + list + ")");
        continue;
      }
      handle(key, value);
    }
  }

  bool string(const fhir::Json& v, const std::string& name, std::string* out) {
    if (!v.isString() || v.text().empty()) {
      error(v, name + " must be a non-empty string");
      return false;
    }
    *out = v.text();
    return true;
  }

  bool path(const fhir::Json& v, const std::string& name, std::string* out) {
    if (!string(v, name, out)) return false;
    std::filesystem::path p(*out);
    if (p.is_relative() && !baseDir_.empty()) {
      *out = (std::filesystem::path(baseDir_) / p).lexically_normal().string();
    }
    return true;
  }

  bool boolean(const fhir::Json& v, const std::string& name, bool* out) {
    if (!v.isBool()) {
      error(v, name + " must be true or false");
      return false;
    }
    *out = v.asBool();
    return true;
  }

  template <typename T>
  bool integer(const fhir::Json& v, const std::string& name, std::int64_t min, std::int64_t max,
               T* out) {
    std::optional<std::int64_t> n = v.isNumber() ? v.toInt64() : std::nullopt;
    if (!n || *n < min || *n > max) {
      error(v, name + " must be an integer from " + std::to_string(min) + " to " +
                   std::to_string(max));
      return false;
    }
    *out = static_cast<T>(*n);
    return true;
  }

  // {"file": PATH} or {"env": NAME}; never the secret itself (read at use).
  bool secret(const fhir::Json& v, const std::string& name, mappings::SecretRef* out) {
    const auto* only = v.isObject() && v.size() == 1 ? &v.members().front() : nullptr;
    if (only != nullptr && only->first == "file") {
      out->source = mappings::SecretSource::kFile;
      return path(only->second, name + ".file", &out->name);
    }
    if (only != nullptr && only->first == "env") {
      out->source = mappings::SecretSource::kEnv;
      const std::string& env = only->second.text();
      if (!only->second.isString() || env.empty() || std::isdigit(env[0]) != 0 ||
          !std::all_of(env.begin(), env.end(),
                       [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; })) {
        error(only->second,
              name + ".env must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        return false;
      }
      out->name = env;
      return true;
    }
    error(v, name + " must be {\"file\": PATH} or {\"env\": VARIABLE}" +
                 (v.isString() ? " (secrets are never written in this file)" : ""));
    return false;
  }

  // An http(s) URL with a host and without credentials.
  bool httpUrl(const fhir::Json& v, const std::string& name, std::string* out) {
    if (!string(v, name, out)) return false;
    bool ok = std::none_of(out->begin(), out->end(),
                           [](char c) { return static_cast<unsigned char>(c) <= ' '; });
    try {
      Poco::URI uri(*out);
      ok = ok && (uri.getScheme() == "http" || uri.getScheme() == "https") &&
           !uri.getHost().empty() && uri.getUserInfo().empty();
    } catch (const Poco::Exception&) {
      ok = false;
    }
    if (!ok) error(v, name + " must be an http:// or https:// URL with a host and no credentials");
    return ok;
  }

  RoleSet roles(const fhir::Json& v, const std::string& name) {
    RoleSet set;
    if (!v.isArray() || v.items().empty()) {
      error(v, name + " must be a non-empty list of \"ingest\", \"read\", \"admin\", \"metrics\"");
      return set;
    }
    for (const fhir::Json& r : v.items()) {
      std::optional<Role> role = r.isString() ? roleFromName(r.text()) : std::nullopt;
      if (!role) {
        error(r, name + ": unknown role (expected \"ingest\", \"read\", \"admin\" or \"metrics\")");
        continue;
      }
      set.add(*role);
    }
    return set;
  }

 private:
  std::string_view text_;
  std::string fileName_;
  std::string baseDir_;
  fhir::Issues issues_;
};

bool isLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void readTokens(ConfigReader& r, const fhir::Json& v, DaemonConfig* config) {
  if (!v.isArray()) {
    r.error(v, "tokens must be a list");
    return;
  }
  for (const fhir::Json& t : v.items()) {
    TokenConfig token;
    bool haveId = false;
    bool haveHash = false;
    bool haveRoles = false;
    r.members(t, "a token", {"id", "sha256", "roles"},
              [&](const std::string& key, const fhir::Json& value) {
                if (key == "id") {
                  haveId = r.string(value, "tokens[].id", &token.id);
                } else if (key == "sha256") {
                  if (!value.isString() || !isLowerHex64(value.text())) {
                    r.error(value,
                            "tokens[].sha256 must be 64 lower-case hex digits (inloop hash-token)");
                  } else {
                    token.sha256Hex = value.text();
                    haveHash = true;
                  }
                } else {
                  token.roles = r.roles(value, "tokens[].roles");
                  haveRoles = true;
                }
              });
    if (t.isObject() && !(haveId && haveHash && haveRoles)) {
      r.error(t, "a token needs \"id\", \"sha256\" and \"roles\"");
      continue;
    }
    for (const TokenConfig& other : config->tokens) {
      if (other.id == token.id) r.error(t, "duplicate token id \"" + token.id + "\"");
    }
    config->tokens.push_back(std::move(token));
  }
}

void readTls(ConfigReader& r, const fhir::Json& v, DaemonConfig* config) {
  if (v.isNull()) return;  // explicit null: plain HTTP
  TlsConfig tls;
  r.members(v, "tls",
            {"certificateFile", "privateKeyFile", "caFile", "verifyClient", "clientPrincipals"},
            [&](const std::string& key, const fhir::Json& value) {
              if (key == "certificateFile") {
                r.path(value, "tls.certificateFile", &tls.certificateFile);
              } else if (key == "privateKeyFile") {
                r.path(value, "tls.privateKeyFile", &tls.privateKeyFile);
              } else if (key == "caFile") {
                r.path(value, "tls.caFile", &tls.caFile);
              } else if (key == "verifyClient") {
                const std::string& s = value.text();
                if (value.isString() && s == "none") {
                  tls.verifyClient = ClientVerification::kNone;
                } else if (value.isString() && s == "optional") {
                  tls.verifyClient = ClientVerification::kOptional;
                } else if (value.isString() && s == "required") {
                  tls.verifyClient = ClientVerification::kRequired;
                } else {
                  r.error(value, "tls.verifyClient must be \"none\", \"optional\" or \"required\"");
                }
              } else if (value.isArray()) {
                for (const fhir::Json& p : value.items()) {
                  ClientPrincipalConfig cp;
                  r.members(p, "a client principal", {"subject", "id", "roles"},
                            [&](const std::string& k, const fhir::Json& pv) {
                              if (k == "subject") {
                                r.string(pv, "clientPrincipals[].subject", &cp.subject);
                              } else if (k == "id") {
                                r.string(pv, "clientPrincipals[].id", &cp.id);
                              } else {
                                cp.roles = r.roles(pv, "clientPrincipals[].roles");
                              }
                            });
                  if (p.isObject() && (cp.subject.empty() || cp.id.empty() || cp.roles.bits == 0)) {
                    r.error(p, "a client principal needs \"subject\", \"id\" and \"roles\"");
                  }
                  tls.clientPrincipals.push_back(std::move(cp));
                }
              } else {
                r.error(value, "tls.clientPrincipals must be a list");
              }
            });
  if (v.isObject()) {
    if (tls.certificateFile.empty() || tls.privateKeyFile.empty()) {
      r.error(v, "tls needs \"certificateFile\" and \"privateKeyFile\"");
    }
    if (tls.verifyClient != ClientVerification::kNone && tls.caFile.empty()) {
      r.error(v, "tls.verifyClient needs \"caFile\" (the CA that signs client certificates)");
    }
  }
  config->tls = std::move(tls);
}

void readDelivery(ConfigReader& r, const fhir::Json& v, DeliveryConfig* d) {
  constexpr std::int64_t kDay = 86'400'000;
  r.members(v, "delivery",
            {"backoffBaseMs", "backoffCapMs", "alertAgeMs", "breakerFailures", "breakerOpenMs",
             "leaseMs"},
            [&](const std::string& key, const fhir::Json& value) {
              const std::string name = "delivery." + key;
              if (key == "backoffBaseMs") {
                r.integer(value, name, 1, kDay, &d->backoffBaseMs);
              } else if (key == "backoffCapMs") {
                r.integer(value, name, 1, kDay, &d->backoffCapMs);
              } else if (key == "alertAgeMs") {
                r.integer(value, name, 1000, 30 * kDay, &d->alertAgeMs);
              } else if (key == "breakerFailures") {
                r.integer(value, name, 1, 1000, &d->breakerFailures);
              } else if (key == "breakerOpenMs") {
                r.integer(value, name, 1, kDay, &d->breakerOpenMs);
              } else {
                r.integer(value, name, 1000, kDay, &d->leaseMs);
              }
            });
}

void readLimits(ConfigReader& r, const fhir::Json& v, ServerLimits* l) {
  constexpr std::int64_t kInt = 1'000'000'000;
  r.members(v, "limits",
            {"maxBodyBytes", "maxBatchBytes", "maxBatchRecords", "maxHeaderFields",
             "requestTimeoutMs", "requestDeadlineMs", "headerDeadlineMs", "keepAliveTimeoutMs",
             "maxKeepAliveRequests", "maxThreads", "maxQueuedConnections",
             "maxConnectionsPerClient", "maxInFlight", "maxConcurrentBatches", "retryAfterSeconds"},
            [&](const std::string& key, const fhir::Json& value) {
              const std::string name = "limits." + key;
              if (key == "maxBodyBytes") {
                r.integer(value, name, 1024, std::int64_t{1} << 30, &l->maxBodyBytes);
              } else if (key == "maxBatchBytes") {
                r.integer(value, name, 1024, std::int64_t{4} << 30, &l->maxBatchBytes);
              } else if (key == "maxBatchRecords") {
                r.integer(value, name, 1, 1'000'000, &l->maxBatchRecords);
              } else if (key == "maxHeaderFields") {
                r.integer(value, name, 8, 100, &l->maxHeaderFields);
              } else if (key == "requestTimeoutMs") {
                r.integer(value, name, 100, 3'600'000, &l->requestTimeoutMs);
              } else if (key == "requestDeadlineMs") {
                r.integer(value, name, 100, 3'600'000, &l->requestDeadlineMs);
              } else if (key == "headerDeadlineMs") {
                r.integer(value, name, 100, 3'600'000, &l->headerDeadlineMs);
              } else if (key == "keepAliveTimeoutMs") {
                r.integer(value, name, 100, 3'600'000, &l->keepAliveTimeoutMs);
              } else if (key == "maxKeepAliveRequests") {
                r.integer(value, name, 0, kInt, &l->maxKeepAliveRequests);
              } else if (key == "maxThreads") {
                r.integer(value, name, 1, 1024, &l->maxThreads);
              } else if (key == "maxQueuedConnections") {
                r.integer(value, name, 1, 65536, &l->maxQueuedConnections);
              } else if (key == "maxConnectionsPerClient") {
                r.integer(value, name, 1, 65536, &l->maxConnectionsPerClient);
              } else if (key == "maxInFlight") {
                r.integer(value, name, 1, 65536, &l->maxInFlight);
              } else if (key == "maxConcurrentBatches") {
                r.integer(value, name, 1, 1024, &l->maxConcurrentBatches);
              } else {
                r.integer(value, name, 1, 3600, &l->retryAfterSeconds);
              }
            });
}

void readInbox(ConfigReader& r, const fhir::Json& v, InboxConfig* inbox) {
  r.members(v, "inbox", {"enabled", "dir", "pollIntervalMs", "maxFileBytes"},
            [&](const std::string& key, const fhir::Json& value) {
              if (key == "enabled") {
                r.boolean(value, "inbox.enabled", &inbox->enabled);
              } else if (key == "dir") {
                r.path(value, "inbox.dir", &inbox->dir);
              } else if (key == "pollIntervalMs") {
                r.integer(value, "inbox.pollIntervalMs", 10, 3'600'000, &inbox->pollIntervalMs);
              } else {
                r.integer(value, "inbox.maxFileBytes", 1024, std::int64_t{4} << 30,
                          &inbox->maxFileBytes);
              }
            });
}

void readRetention(ConfigReader& r, const fhir::Json& v, RetentionConfig* retention) {
  r.members(v, "retention", {"purgeAfterDays", "intervalMinutes"},
            [&](const std::string& key, const fhir::Json& value) {
              if (key == "purgeAfterDays") {
                r.integer(value, "retention.purgeAfterDays", 0, 36'500, &retention->purgeAfterDays);
              } else {
                r.integer(value, "retention.intervalMinutes", 1, 10'080,
                          &retention->intervalMinutes);
              }
            });
}

void readEncryption(ConfigReader& r, const fhir::Json& v, EncryptionConfig* encryption) {
  r.members(v, "encryption", {"keyFile"}, [&](const std::string&, const fhir::Json& value) {
    r.path(value, "encryption.keyFile", &encryption->keyFile);
  });
}

// An id that names something in metrics labels and logs: [A-Za-z0-9._-]{1,64}.
bool isIdText(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-';
  });
}

// Header names a webhook may not set: inloop sets them, or (credentials) they
// belong in "secretHeaders".
bool headerAllowed(const std::string& name, bool secret, std::string* why) {
  std::string lname = name;
  std::transform(lname.begin(), lname.end(), lname.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
  for (std::string_view own :
       {"host", "content-length", "content-type", "transfer-encoding", "connection"}) {
    if (lname == own) *why = "inloop sets this header itself";
  }
  if (!secret && (lname.find("auth") != std::string::npos || lname == "cookie")) {
    *why = "credentials belong in \"secretHeaders\", never inline";
  }
  if (!token) *why = "not a valid header name";
  return why->empty();
}

void readWebhookHeaders(ConfigReader& r, const fhir::Json& v, const std::string& what, bool secret,
                        AlertWebhookConfig* w) {
  if (!v.isObject()) {
    r.error(v, what + " must be an object of header name -> " +
                   (secret ? "{\"file\": PATH} or {\"env\": VARIABLE}" : "value"));
    return;
  }
  for (const auto& [name, value] : v.members()) {
    const std::string label = what + "[\"" + name + "\"]";
    std::string why;
    if (!headerAllowed(name, secret, &why)) {
      r.error(value, label + ": " + why);
    } else if (secret) {
      SecretHeaderConfig h{name, {}};
      if (r.secret(value, label, &h.value)) w->secretHeaders.push_back(std::move(h));
    } else if (!value.isString() ||
               std::any_of(value.text().begin(), value.text().end(),
                           [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
      r.error(value, label + " must be a string without control characters");
    } else {
      w->headers.push_back({name, value.text()});
    }
  }
}

void readWebhooks(ConfigReader& r, const fhir::Json& v, AlertsConfig* a) {
  if (!v.isArray()) {
    r.error(v, "alerts.webhooks must be a list");
    return;
  }
  for (const fhir::Json& item : v.items()) {
    AlertWebhookConfig w;
    const std::string what = "alerts.webhooks[" + std::to_string(a->webhooks.size()) + "]";
    r.members(item, what,
              {"id", "url", "headers", "secretHeaders", "caFile", "timeoutMs", "attempts"},
              [&](const std::string& key, const fhir::Json& value) {
                const std::string name = what + "." + key;
                if (key == "id") {
                  if (r.string(value, name, &w.id) && !isIdText(w.id)) {
                    r.error(value, name + " must be 1 to 64 of A-Z a-z 0-9 . _ -");
                    w.id.clear();
                  }
                } else if (key == "url" && value.isObject()) {
                  r.secret(value, name, &w.urlSecret);
                } else if (key == "url") {
                  r.httpUrl(value, name, &w.url);
                } else if (key == "headers" || key == "secretHeaders") {
                  readWebhookHeaders(r, value, name, key == "secretHeaders", &w);
                } else if (key == "caFile") {
                  r.path(value, name, &w.caFile);
                } else if (key == "timeoutMs") {
                  r.integer(value, name, 100, 600'000, &w.timeoutMs);
                } else {
                  r.integer(value, name, 1, 20, &w.attempts);
                }
              });
    if (!item.isObject()) continue;
    if (w.id.empty() || (w.url.empty() && !w.urlSecret.isSet())) {
      r.error(item, what + " needs \"id\" and \"url\"");
    }
    for (const AlertWebhookConfig& other : a->webhooks) {
      if (!w.id.empty() && other.id == w.id) {
        r.error(item, "duplicate webhook id \"" + w.id + "\"");
      }
    }
    a->webhooks.push_back(std::move(w));
  }
}

// A rule that is `false` (off), `true` (on, defaults) or, for the ones with
// a threshold, its settings.
void readAlertRules(ConfigReader& r, const fhir::Json& v, AlertRulesConfig* rules) {
  constexpr std::int64_t kDay = 86'400'000;
  r.members(
      v, "alerts.rules",
      {"deadLetters", "circuitOpen", "notSent", "oldestPendingAgeMs", "reloadRejected"},
      [&](const std::string& key, const fhir::Json& value) {
        const std::string name = "alerts.rules." + key;
        if (key == "deadLetters" && value.isObject()) {
          rules->deadLetters = true;
          r.members(
              value, name, {"count", "intervalMs"}, [&](const std::string& k, const fhir::Json& n) {
                if (k == "count") {
                  r.integer(n, name + ".count", 1, 1'000'000, &rules->deadLetterCount);
                } else {
                  r.integer(n, name + ".intervalMs", 1000, 30 * kDay, &rules->deadLetterIntervalMs);
                }
              });
        } else if (key == "deadLetters") {
          if (!value.isBool()) {
            r.error(value, name + " must be true, false or {\"count\": N, \"intervalMs\": MS}");
          } else {
            rules->deadLetters = value.asBool();
          }
        } else if (key == "oldestPendingAgeMs" && value.isBool() && !value.asBool()) {
          rules->oldestPendingAgeMs = 0;
        } else if (key == "oldestPendingAgeMs") {
          r.integer(value, name + " (or false)", 1000, 30 * kDay, &rules->oldestPendingAgeMs);
        } else if (key == "circuitOpen") {
          r.boolean(value, name, &rules->circuitOpen);
        } else if (key == "notSent") {
          r.boolean(value, name, &rules->notSent);
        } else {
          r.boolean(value, name, &rules->reloadRejected);
        }
      });
}

void readAlerts(ConfigReader& r, const fhir::Json& v, AlertsConfig* a) {
  r.members(v, "alerts", {"instance", "evaluateEveryMs", "repeatMs", "rules", "webhooks"},
            [&](const std::string& key, const fhir::Json& value) {
              if (key == "instance") {
                r.string(value, "alerts.instance", &a->instance);
              } else if (key == "evaluateEveryMs") {
                r.integer(value, "alerts.evaluateEveryMs", 100, 3'600'000, &a->evaluateEveryMs);
              } else if (key == "repeatMs") {
                r.integer(value, "alerts.repeatMs (0: never)", 0, 30 * 86'400'000LL, &a->repeatMs);
              } else if (key == "rules") {
                readAlertRules(r, value, &a->rules);
              } else {
                readWebhooks(r, value, a);
              }
            });
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
  ConfigReader r(text, fileName, baseDir);
  DaemonConfig config;
  // Defaults that are paths are relative to the config file's folder too.
  if (!baseDir.empty()) {
    config.dataDir = (std::filesystem::path(baseDir) / "../var").lexically_normal().string();
    config.mappingsDir = (std::filesystem::path(baseDir) / "mappings").lexically_normal().string();
  }
  r.members(*doc, "the configuration",
            {"listen", "dataDir", "mappingsDir", "tokens", "tls", "limits", "metricsRequireAuth",
             "storeQueueCapacity", "storeBusyTimeoutMs", "logLevel", "destinationsFile", "delivery",
             "inbox", "alerts", "retention", "encryption"},
            [&](const std::string& key, const fhir::Json& value) {
              if (key == "listen") {
                std::string s;
                if (!r.string(value, "listen", &s)) return;
                fhir::Status st = parseListen(s, &config.host, &config.port);
                if (!st.isOk()) r.error(value, st.message());
              } else if (key == "dataDir") {
                r.path(value, "dataDir", &config.dataDir);
              } else if (key == "mappingsDir") {
                r.path(value, "mappingsDir", &config.mappingsDir);
              } else if (key == "tokens") {
                readTokens(r, value, &config);
              } else if (key == "tls") {
                readTls(r, value, &config);
              } else if (key == "limits") {
                readLimits(r, value, &config.limits);
              } else if (key == "metricsRequireAuth") {
                r.boolean(value, "metricsRequireAuth", &config.metricsRequireAuth);
              } else if (key == "storeQueueCapacity") {
                r.integer(value, "storeQueueCapacity", 1, 10'000'000, &config.storeQueueCapacity);
              } else if (key == "storeBusyTimeoutMs") {
                r.integer(value, "storeBusyTimeoutMs", 10, 600'000, &config.storeBusyTimeoutMs);
              } else if (key == "destinationsFile") {
                r.path(value, "destinationsFile", &config.destinationsFile);
              } else if (key == "delivery") {
                readDelivery(r, value, &config.delivery);
              } else if (key == "inbox") {
                readInbox(r, value, &config.inbox);
              } else if (key == "alerts") {
                readAlerts(r, value, &config.alerts);
              } else if (key == "retention") {
                readRetention(r, value, &config.retention);
              } else if (key == "encryption") {
                readEncryption(r, value, &config.encryption);
              } else {
                std::string level;
                if (!r.string(value, "logLevel", &level)) return;
                if (level != "debug" && level != "info" && level != "warning" && level != "error") {
                  r.error(value, "logLevel must be \"debug\", \"info\", \"warning\" or \"error\"");
                  return;
                }
                config.logLevel = level;
              }
            });
  load.issues = std::move(r.issues());
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

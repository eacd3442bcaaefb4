#pragma once

// DaemonConfig: the settings of `inloop serve`, read once from config/inloop.json
// (JSON with comments) into a validated plain struct. docs/daemon.md documents
// every setting and its default; the defaults below are the same values.
//
// Relative paths in the file are resolved against the folder of the config file
// (not the working directory). Unknown keys are errors, reported with
// file:line:column like every other problem.
//
// Pure: parseDaemonConfig takes the text; readDaemonConfigFile does the I/O.
// Thread safety: plain values.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/status.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

// What a principal may do. A request needs the role of its endpoint. kMetrics
// reads GET /metrics only (a scraper), where kRead reads every record as well.
enum class Role : std::uint8_t { kIngest = 1, kRead = 2, kAdmin = 4, kMetrics = 8 };

// "ingest", "read", "admin", "metrics".
const char* roleName(Role role);
std::optional<Role> roleFromName(std::string_view name);

// A set of roles as bits of Role.
struct RoleSet {
  std::uint8_t bits = 0;
  bool has(Role r) const { return (bits & static_cast<std::uint8_t>(r)) != 0; }
  void add(Role r) { bits |= static_cast<std::uint8_t>(r); }
  static RoleSet all() { return RoleSet{15}; }
  bool operator==(const RoleSet&) const = default;
};

// An accepted API token: only the SHA-256 of the token is configured.
struct TokenConfig {
  std::string id;         // names the principal in logs and the audit log
  std::string sha256Hex;  // 64 lower-case hex digits
  RoleSet roles;
  bool operator==(const TokenConfig&) const = default;
};

// A client certificate subject (mTLS) accepted as a principal.
struct ClientPrincipalConfig {
  std::string subject;  // exact subject as POCO prints it: "O=Pain Center,CN=clinic-export"
  std::string id;
  RoleSet roles;
  bool operator==(const ClientPrincipalConfig&) const = default;
};

enum class ClientVerification { kNone, kOptional, kRequired };

struct TlsConfig {
  std::string certificateFile;  // PEM, absolute after loading
  std::string privateKeyFile;   // PEM
  std::string caFile;           // PEM CA bundle for client certificates; empty: none
  ClientVerification verifyClient = ClientVerification::kNone;
  std::vector<ClientPrincipalConfig> clientPrincipals;
  bool operator==(const TlsConfig&) const = default;
};

struct ServerLimits {
  std::size_t maxBodyBytes = 1u << 20;    // POST /records and /admin/*: 413 beyond
  std::size_t maxBatchBytes = 64u << 20;  // POST /records/$batch: 413 beyond
  std::size_t maxBatchRecords = 10000;    // lines of one batch: 413 beyond
  std::size_t maxHeaderFields = 64;       // 431 beyond (POCO itself stops at 100)
  std::int64_t requestTimeoutMs = 30000;  // socket receive/send timeout (each call)
  // Whole request: header and body read within this, counted from accept or the
  // end of the previous response (RequestDeadlines in gateway/server/api_handler.h).
  std::int64_t requestDeadlineMs = 60000;
  // The request head (request line and header fields) read within this, counted
  // like requestDeadlineMs; what holds a thread for a client that sends nothing.
  std::int64_t headerDeadlineMs = 10000;
  std::int64_t keepAliveTimeoutMs = 5000;  // below headerDeadlineMs: idle closes quietly
  int maxKeepAliveRequests = 10000;
  int maxThreads = 160;              // request handler threads (one per keep-alive connection)
  int maxQueuedConnections = 64;     // accepted connections waiting for a thread: 503 beyond
  int maxConnectionsPerClient = 32;  // open connections of one client address: 503 beyond
  int maxInFlight = 256;             // requests being handled: 503 Retry-After beyond
  int maxConcurrentBatches = 2;      // POST /records/$batch being handled: 503 beyond
  int retryAfterSeconds = 1;         // Retry-After of every 503
  bool operator==(const ServerLimits&) const = default;
};

// Delivery engine timing ("delivery" in the file; docs/delivery.md).
struct DeliveryConfig {
  std::int64_t backoffBaseMs = 1000;   // first retry waits up to this (full jitter)
  std::int64_t backoffCapMs = 300000;  // longest backoff ceiling
  std::int64_t alertAgeMs = 3600000;   // oldest pending older: alert metric
  int breakerFailures = 5;             // consecutive failures that open the circuit
  std::int64_t breakerOpenMs = 30000;  // open circuit: wait before a probe
  std::int64_t leaseMs = 300000;       // claimed message lease (longer than one send)
  bool operator==(const DeliveryConfig&) const = default;
};

// The file inbox (gateway/ingest/inbox.h, docs/inbox.md).
struct InboxConfig {
  bool enabled = true;
  std::string dir;                       // empty: DATADIR/inbox
  std::int64_t pollIntervalMs = 2000;    // between scans of the folder
  std::size_t maxFileBytes = 64u << 20;  // larger files are rejected unread
  bool operator==(const InboxConfig&) const = default;
};

// "retention" (gateway/store/retention.h): purge payloads of records delivered
// everywhere more than purgeAfterDays ago, every intervalMinutes.
struct RetentionConfig {
  std::int64_t purgeAfterDays = 0;    // 0: keep everything (no scheduled purge)
  std::int64_t intervalMinutes = 60;  // between scheduled runs
  bool operator==(const RetentionConfig&) const = default;
};

// "encryption" (gateway/store/payload_cipher.h, docs/security.md): stored
// payloads are sealed with AES-256-GCM under the first key of keyFile.
struct EncryptionConfig {
  std::string keyFile;  // "" : payloads are stored as plaintext
  bool operator==(const EncryptionConfig&) const = default;
};

// A header whose value is a secret, read at each use (never in the file).
struct SecretHeaderConfig {
  std::string name;
  mappings::SecretRef value;  // {"file": PATH} or {"env": NAME}
  bool operator==(const SecretHeaderConfig&) const = default;
};

// Where alerts are posted ("alerts.webhooks[]"; docs/delivery.md "Alerts").
struct AlertWebhookConfig {
  std::string id;                              // names the webhook in logs and metrics
  std::string url;                             // http(s) URL; empty when urlSecret is set
  mappings::SecretRef urlSecret;               // a URL that is itself a secret (chat webhooks)
  std::vector<mappings::HeaderField> headers;  // static, never credentials
  std::vector<SecretHeaderConfig> secretHeaders;
  std::string caFile;             // PEM bundle for https; empty: the system's trust store
  std::int64_t timeoutMs = 5000;  // connect and whole request, each attempt
  int attempts = 4;               // tries of one notification (backoff doubling from 1 s)
  bool operator==(const AlertWebhookConfig&) const = default;
};

// Which conditions alert ("alerts.rules"); each can be turned off.
struct AlertRulesConfig {
  bool deadLetters = true;                     // "dead-letters"
  int deadLetterCount = 1;                     // at least this many dead-lettered...
  std::int64_t deadLetterIntervalMs = 300000;  // ...within this long
  bool circuitOpen = true;                     // "circuit-open" (open or half-open)
  bool notSent = true;                         // "not-sent": messages waiting exist
  std::int64_t oldestPendingAgeMs = 3600000;   // "oldest-pending-age"; 0: off
  bool reloadRejected = true;                  // "reload-rejected"
  bool operator==(const AlertRulesConfig&) const = default;
};

// Alerts ("alerts"; gateway/delivery/alerts.h). Without webhooks alerts are
// only logged and counted in /metrics.
struct AlertsConfig {
  std::string instance;                  // "instance" of every alert; empty: the host name
  std::int64_t evaluateEveryMs = 15000;  // rules are evaluated this often
  std::int64_t repeatMs = 3600000;       // a condition still firing is sent again; 0: never
  AlertRulesConfig rules;
  std::vector<AlertWebhookConfig> webhooks;
  bool operator==(const AlertsConfig&) const = default;
};

// What `inloop serve`'s command line and environment set over the file. Kept
// in the running configuration so that a reload, which re-reads the file,
// applies them again.
struct ConfigOverrides {
  std::string listen;                    // --listen; "" : the file's
  std::string dataDir;                   // --data-dir
  std::string destinationsFile;          // --destinations
  std::vector<std::string> routeFlags;   // --route PRACTICE_ID=KIND:URL (repeatable)
  std::vector<TokenConfig> extraTokens;  // INLOOP_API_TOKEN
};

struct DaemonConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;    // 0: any free port (tests)
  std::string dataDir = "var";  // SQLite store inloop.db lives here
  std::string mappingsDir = "config/mappings";
  std::vector<TokenConfig> tokens;
  std::optional<TlsConfig> tls;
  ServerLimits limits;
  bool metricsRequireAuth = true;         // false: GET /metrics open like /healthz
  std::size_t storeQueueCapacity = 4096;  // records waiting for the group commit: 503 beyond
  // How long a store write waits for a lock another process holds on the
  // database file before it fails (ingest: 503 + Retry-After).
  std::int64_t storeBusyTimeoutMs = 5000;
  std::string logLevel = "info";  // "debug", "info", "warning", "error"
  // Destinations and routes (gateway/config/destinations_config.h); empty: none
  // (records are stored as unroutable) unless routeFlags add some.
  std::string destinationsFile;
  std::vector<std::string> routeFlags;  // `--route PRACTICE_ID=KIND:URL`, command line only
  DeliveryConfig delivery;
  InboxConfig inbox;
  RetentionConfig retention;
  EncryptionConfig encryption;
  AlertsConfig alerts;  // applied live by a reload
  // The file this was read from ("" : built-in defaults) and what the command
  // line set over it: a reload re-reads the file and applies them again.
  std::string configFile;
  ConfigOverrides overrides;
};

// Splits "HOST:PORT" ("127.0.0.1:8080", "[::1]:0", ":8080" = all interfaces).
// Fails with kInvalid and a message naming the problem.
fhir::Status parseListen(std::string_view text, std::string* host, std::uint16_t* port);

// True when `serve` would listen without TLS on an address that is not
// loopback (records, tokens and summaries would cross the network in clear);
// the daemon then logs "plain-http-listener" at every start.
bool listensInClear(const DaemonConfig& config);

struct DaemonConfigLoad {
  std::optional<DaemonConfig> config;  // set only when issues has no errors
  fhir::Issues issues;                 // paths "FILE:LINE:COLUMN"
};

// Parses and validates the text of a config file named `fileName` (used in
// issue paths) whose folder is `baseDir` (relative paths are resolved against
// it; empty: left as written). Missing settings keep their defaults.
DaemonConfigLoad parseDaemonConfig(std::string_view text, const std::string& fileName,
                                   const std::string& baseDir);

// Reads and parses `path`; an unreadable file is one error issue.
DaemonConfigLoad readDaemonConfigFile(const std::string& path);

// Applies `overrides` to `config` (and remembers them in config->overrides).
// Fails with kInvalid when --listen is not HOST:PORT.
fhir::Status applyOverrides(const ConfigOverrides& overrides, DaemonConfig* config);

// A reload's new configuration: `running.configFile` read again (issues as
// readDaemonConfigFile) with running.overrides applied; without a file, a copy
// of `running`.
DaemonConfigLoad rereadDaemonConfig(const DaemonConfig& running);

// The settings whose change a reload cannot apply while serving (listen,
// dataDir, tls, limits, storeQueueCapacity, storeBusyTimeoutMs, delivery,
// inbox), by their names in inloop.json, where `next` differs from `running`.
// Everything else (tokens, logLevel, metricsRequireAuth, mappingsDir,
// destinationsFile, alerts) is applied live.
std::vector<std::string> settingsNeedingRestart(const DaemonConfig& running,
                                                const DaemonConfig& next);

// What one reload (SIGHUP, POST /admin/reload) did.
struct ReloadReport {
  // Errors: rejected, nothing changed (the old configuration keeps serving).
  // Warnings: applied, with what to look at (restart-only settings, secrets).
  fhir::Issues issues;
  std::string mappingTablesVersion;       // of the tables now serving
  std::vector<std::string> needsRestart;  // changed settings not applied (names in inloop.json)
  std::int64_t routed = 0;                // unroutable records that got destinations
  std::int64_t stillUnroutable = 0;
};

// The store's file name inside the data directory, and DATA_DIR/inloop.db.
inline constexpr const char* kStoreFileName = "inloop.db";
std::string storePathIn(const std::string& dataDir);
// The file inbox's folder: inbox.dir, else DATADIR/inbox.
std::string inboxDirOf(const DaemonConfig& config);

}  // namespace inloop::gateway

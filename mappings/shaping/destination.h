#pragma once

// Destinations, routing and per-destination shaping of what is sent.
//
// A destination is one receiver of translated records: a primary-care EHR's
// FHIR server, a hospital's interface engine, or a folder an engine polls.
// DestinationProfile is its validated settings (gateway/config/destinations_config.h
// reads them from config/destinations.json; docs/destinations.md documents
// every field). Destinations routes a record's pcp.practiceId to the ids of its
// destinations.
//
// shapeForDestination turns a record's transaction Bundle (mappings/forward/translate.h)
// into exactly what one destination gets:
//  - patient matching: `reference` drops the Patient entry and points every
//    subject at the practice's own patient id (a record without pcpPatientId is
//    then kPatientUnmatched, parked visibly); `conditional-create` keeps the
//    Patient entry with ifNoneExist;
//  - resource types the destination does not take (its `accepts` list, and the
//    server's CapabilityStatement when known) get their fallback
//    (MedicationStatement -> MedicationRequest, CarePlan -> Communication, a
//    safety notice Communication -> a note on the MedicationStatement /
//    MedicationRequest / CarePlan it is about) or are skipped; every skipped
//    resource is listed in the result for the ledger;
//  - the wire form of the destination's kind: one transaction Bundle, a list of
//    conditional requests, the Bundle for an interface engine, or NDJSON lines.
//
// Pure: no I/O, no clock, no environment, nothing thrown; output is
// deterministic for the same inputs. All types are plain values; concurrent
// calls on const arguments are safe. Secrets are only REFERENCED here (a file
// name or an environment variable name); reading them is the gateway's job.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json.h"
#include "fhir/status.h"
#include "mappings/forward/translate.h"
#include "mappings/record/plan_record.h"
#include "mappings/tables/tables.h"

namespace inloop::mappings {

// ---- Settings ----

enum class DestinationKind {
  kFhirTransaction,  // "fhir-transaction": POST the transaction Bundle to the FHIR base
  kFhirPut,          // "fhir-put": one conditional request per resource
  kHttpBundle,       // "http-bundle": POST the Bundle to a plain HTTP listener
  kNdjsonDir,        // "ndjson-dir": append NDJSON files to a directory
};

// "fhir-transaction", "fhir-put", "http-bundle", "ndjson-dir".
std::string_view destinationKindName(DestinationKind kind);
std::optional<DestinationKind> destinationKindFromName(std::string_view name);
// True for the kinds that talk to a FHIR server (and so have a CapabilityStatement).
bool isFhirServerKind(DestinationKind kind);

enum class AuthType {
  kNone,          // "none"
  kBearer,        // "bearer": a static token
  kBasic,         // "basic": HTTP basic
  kSmartBackend,  // "smart-backend": SMART Backend Services (client_credentials, private_key_jwt)
  kMtls,          // "mtls": a client certificate only
};

// "none", "bearer", "basic", "smart-backend", "mtls".
std::string_view authTypeName(AuthType type);
std::optional<AuthType> authTypeFromName(std::string_view name);

// Where a secret lives. Secrets are never written in the configuration text.
enum class SecretSource { kNone, kFile, kEnv };

struct SecretRef {
  SecretSource source = SecretSource::kNone;
  // kFile: the file's path (absolute after loading); kEnv: the variable's name.
  std::string name;

  bool isSet() const { return source != SecretSource::kNone; }
  bool operator==(const SecretRef&) const = default;
};

// "file /etc/inloop/ehr.token", "environment variable EHR_TOKEN", "nothing".
std::string describeSecret(const SecretRef& secret);

enum class SigningAlg { kRs384, kEs384 };  // "RS384", "ES384"

std::string_view signingAlgName(SigningAlg alg);
std::optional<SigningAlg> signingAlgFromName(std::string_view name);

struct SmartBackendSettings {
  std::string clientId;
  // The token endpoint; empty: discovered from
  // [endpoint]/.well-known/smart-configuration ("token_endpoint").
  std::string tokenUrl;
  std::string privateKeyFile;  // PEM (absolute after loading)
  std::string keyId;           // JWT header "kid"; empty: none sent
  SigningAlg alg = SigningAlg::kRs384;
  std::vector<std::string> scopes;  // e.g. "system/Observation.write"
  bool operator==(const SmartBackendSettings&) const = default;
};

struct AuthSettings {
  AuthType type = AuthType::kNone;
  SecretRef token;     // bearer
  std::string user;    // basic
  SecretRef password;  // basic
  SmartBackendSettings smart;
  // mtls (and optionally with any other type): client certificate and key, PEM.
  std::string certificateFile;
  std::string keyFile;
  bool operator==(const AuthSettings&) const = default;
};

struct TlsSettings {
  std::string caFile;  // PEM bundle; empty: the system's trust store
  bool verify = true;  // false only with "insecureSkipVerify": true (logged loudly)
  bool operator==(const TlsSettings&) const = default;
};

struct Timeouts {
  std::int64_t connectMs = 5000;
  std::int64_t requestMs = 30000;
  bool operator==(const Timeouts&) const = default;
};

// What a MedicationStatement becomes for a destination that does not take it.
enum class MedicationFallback {
  kMedicationRequest,  // "MedicationRequest": intent plan, reportedBoolean true (US Core)
  kSkip,               // "skip"
};
// What a CarePlan becomes for a destination that does not take it.
enum class CarePlanFallback {
  kCommunication,  // "Communication": status completed, category notification, the narrative
  kSkip,           // "skip"
};

// What a safety notice (a Communication with identifier "notice/...",
// mappings/safety/safety.h) becomes for a destination that does not take Communication.
enum class NoticeFallback {
  kNote,  // "note": an "ATTENTION (inloop safety notice...)" note on the resource it is about
  kSkip,  // "skip"
};

// The prefix of the note a notice becomes (kNote); the priority and the
// notice's text follow: "ATTENTION (inloop safety notice, urgent): ...".
inline constexpr std::string_view kNoticeNotePrefix = "ATTENTION (inloop safety notice";

struct Fallbacks {
  MedicationFallback medicationStatement = MedicationFallback::kMedicationRequest;
  CarePlanFallback carePlan = CarePlanFallback::kCommunication;
  NoticeFallback notice = NoticeFallback::kNote;
  bool operator==(const Fallbacks&) const = default;
};

enum class PatientMatchingMode {
  kConditionalCreate,  // "conditional-create": send the Patient with ifNoneExist
  kReference,          // "reference": the receiver knows the patient by the practice's id
};

struct PatientMatching {
  PatientMatchingMode mode = PatientMatchingMode::kConditionalCreate;
  // kReference: Identifier.system of the practice's own patient ids, as the
  // receiving EHR stores them (required for kReference).
  std::string patientIdentifierSystem;
  bool operator==(const PatientMatching&) const = default;
};

struct HeaderField {
  std::string name;
  std::string value;
  bool operator==(const HeaderField&) const = default;
};

// ndjson-dir: when the file being written is published (renamed to its final
// name), whichever comes first.
struct FileRotation {
  std::uint64_t maxBytes = 64u << 20;  // published once it holds this much
  std::int64_t maxAgeMs = 60000;       // published once its first line is this old
  bool operator==(const FileRotation&) const = default;
};

// ndjson-dir: the permission bits of the files written: owner-only, or
// readable by the group too (a poller running as another user of the group).
inline constexpr unsigned kOwnerOnlyFileMode = 0600;
inline constexpr unsigned kGroupReadableFileMode = 0640;

struct DestinationProfile {
  std::string id;  // [A-Za-z0-9._-]{1,64}; names the destination in the outbox and metrics
  DestinationKind kind = DestinationKind::kFhirTransaction;
  std::string endpoint;  // FHIR base / listener URL, or a directory (ndjson-dir)
  AuthSettings auth;
  TlsSettings tls;
  Timeouts timeouts;
  int maxInFlight = 4;               // concurrent requests to this destination
  double rateLimitPerSecond = 0;     // requests per second; 0: unlimited
  std::vector<std::string> accepts;  // resource types it takes; empty: every type
  Fallbacks fallbacks;
  PatientMatching patientMatching;
  std::vector<HeaderField> headers;  // extra static headers on every request
  // false: records are still routed and queued for it, but not sent (paused).
  bool enabled = true;
  // true: the receiver resolves conditional references ("Patient?identifier=...")
  // in resource bodies, which FHIR R4 makes optional; they are then sent as they
  // are. false (default): the sender resolves them to "Patient/{id}" by a search
  // at the receiver first (cached per destination), and a patient the receiver
  // does not have (or has twice) parks the message as patient-unmatched.
  bool conditionalReferences = false;
  FileRotation rotation;                   // ndjson-dir only
  unsigned fileMode = kOwnerOnlyFileMode;  // ndjson-dir only: 0600 or 0640

  // True when `accepts` is empty or lists `resourceType`.
  bool acceptsType(std::string_view resourceType) const;
  bool operator==(const DestinationProfile&) const = default;
};

// ---- Routing ----

// A route key matching every practice (for example a hospital interface engine
// that takes every record).
inline constexpr std::string_view kAnyPractice = "*";

struct Destinations {
  std::vector<DestinationProfile> destinations;  // ids unique
  // practiceId (or kAnyPractice) -> destination ids, in configured order.
  std::map<std::string, std::vector<std::string>, std::less<>> routes;

  // The destination with `id`, or nullptr.
  const DestinationProfile* find(std::string_view id) const;
  // The destination ids for a practice: its own route first, then those of
  // kAnyPractice, without duplicates. Empty: the record is `unroutable`
  // (stored and visible, never dropped). Disabled destinations are included
  // (their messages wait until the destination is enabled again).
  std::vector<std::string> routesFor(std::string_view practiceId) const;
};

// Why `record` cannot be matched to a patient at `destination` (reference mode
// without pcpPatientId), for operators; nullopt when it can. Never names the
// patient.
std::optional<std::string> patientUnmatchedReason(const DestinationProfile& destination,
                                                  const PlanRecord& record);

// One destination a new record version is queued for.
struct RoutedTarget {
  std::string destinationId;
  bool patientUnmatched = false;  // parked as `patient-unmatched` with `reason`
  std::string reason;
};

// The targets of `record` (routesFor its practice; unknown ids are ignored).
// Empty: the record is `unroutable`.
std::vector<RoutedTarget> routeRecord(const Destinations& destinations, const PlanRecord& record);

// ---- Capability discovery (GET [base]/metadata) ----

struct ResourceCapability {
  std::string type;
  bool read = false;
  bool create = false;
  bool update = false;
  // As declared; nullopt when the statement does not say (assumed supported).
  std::optional<bool> conditionalCreate;
  std::optional<bool> conditionalUpdate;
  bool operator==(const ResourceCapability&) const = default;
};

// What is known of a FHIR server: its CapabilityStatement as FHIR means it,
// plus what its answers taught (`refused`).
//
// FHIR makes rest.resource 0..*: a statement without the list, or a type the
// list leaves out, says NOTHING about that type; it is "unknown" and is sent,
// and the receiver's answer decides. Only an explicit statement drops a type
// ahead of time: a listed type without the interaction (create for Patient,
// update for the others), or one the receiver refused (`refused`).
struct CapabilitySet {
  // false: no CapabilityStatement was read (only `refused` is known); the
  // destination's configured kind is used as is.
  bool statementRead = true;
  std::string fhirVersion;
  std::string software;                       // software.name [+ " " + software.version]
  bool transaction = false;                   // system interaction "transaction"
  bool batch = false;                         // system interaction "batch"
  bool resourcesListed = false;               // the statement has a rest.resource list
  std::vector<ResourceCapability> resources;  // rest[mode=server].resource, in order
  // Types the receiver refused in an answer (a 4xx naming the type), learnt
  // while delivering: type -> the receiver's words, for operators.
  std::map<std::string, std::string, std::less<>> refused;
  // The receiver refused a conditional update (PUT Type?identifier=...):
  // writes then search first and PUT Type/{id} or POST (fhir-put). The answer
  // that taught it; empty: not refused.
  std::string conditionalUpdateRefused;

  const ResourceCapability* find(std::string_view type) const;
  // Not refused, and unless the statement lists the type: `update` listed.
  bool canUpdate(std::string_view type) const;
  // Not refused, and unless the statement lists the type: `create` listed.
  bool canCreate(std::string_view type) const;
  // Why the statement or an answer rules `type` out ("" when it does not):
  // "not writable per its CapabilityStatement" or "refused by the receiver: ...".
  std::string whyNotWritable(std::string_view type) const;
  // True when conditional updates of `type` are known not to work: declared
  // conditionalUpdate false for a listed type, or refused in an answer.
  bool conditionalUpdateUnsupported(std::string_view type) const;
};

// Reads a CapabilityStatement. Fails with kInvalid when `statement` is not a
// CapabilityStatement or has no rest entry with mode "server". Unknown
// interaction codes are ignored.
fhir::Result<CapabilitySet> parseCapabilityStatement(const fhir::Json& statement);

// The kind actually used: a fhir-transaction destination whose server (when
// its statement was read) does not support transactions, or refused one (the
// type "Bundle" in CapabilitySet::refused), or refused a conditional update,
// gets single requests (kFhirPut); every other configuration keeps its kind.
DestinationKind chooseKind(const DestinationProfile& destination, const CapabilitySet* caps);

// True when `destination` (its `accepts` list, and its server when `caps` is
// known) takes writes of `resourceType`: false only on an explicit statement
// (CapabilitySet above). Patient is checked for create, other types for update.
bool destinationTakes(const DestinationProfile& destination, const CapabilitySet* caps,
                      std::string_view resourceType);

// The translation options for `destination`: MedicationRequest when it does not
// take MedicationStatement, its fallback says MedicationRequest and it takes
// MedicationRequest; the defaults otherwise.
TranslateOptions translateOptionsFor(const DestinationProfile& destination,
                                     const CapabilitySet* caps);

// ---- Shaping ----

enum class ShapeState {
  kSend,              // `requests` / `ndjson` hold what to send
  kPatientUnmatched,  // park the message visibly (reason); a later version may release it
  kNothingToSend,     // every resource was skipped for this destination (see `skipped`)
  kInvalid,           // the Bundle is not one the translator makes, or was translated
                      // with other options than translateOptionsFor (a bug upstream)
};

// "send", "patient-unmatched", "nothing-to-send", "invalid".
std::string_view shapeStateName(ShapeState state);

// A resource left out for this destination, for the delivery ledger.
struct SkippedResource {
  std::string resourceType;
  std::string fullUrl;
  std::string reason;
};

// One HTTP request. `url` is relative to the destination's endpoint ("" is the
// base itself, for a Bundle POST); the body is sent as application/fhir+json.
struct WireRequest {
  std::string method;  // "POST" or "PUT"
  std::string url;
  std::vector<HeaderField> headers;  // request-specific (If-None-Exist)
  fhir::Json body;
  // fhir-put, a conditional update (PUT Type?identifier=...) the server does
  // not do (CapabilitySet::conditionalUpdateUnsupported): the sender searches
  // first, then PUTs Type/{id} of the single match or POSTs when there is none.
  bool searchFirst = false;
};

struct ShapedDelivery {
  ShapeState state = ShapeState::kSend;
  std::string reason;  // for anything but kSend; never names the patient
  DestinationKind kind = DestinationKind::kFhirTransaction;  // chooseKind()
  // kFhirTransaction / kHttpBundle: one POST "" with the Bundle. kFhirPut: the
  // conditional requests in dependency order (Patient first, Provenance last).
  std::vector<WireRequest> requests;
  // kNdjsonDir: one compact resource per line, each line ending in '\n'.
  std::string ndjson;
  std::vector<SkippedResource> skipped;
  // Human-readable notes on what was changed ("CarePlan sent as Communication
  // (the destination does not take CarePlan)"), for the ledger.
  std::vector<std::string> substitutions;
};

// Shapes `bundle` (translateRecord's Bundle for `record`, translated with
// translateOptionsFor(destination, caps)) for `destination`. `caps` may be null
// (nothing known about the server). Never fails by exception; see ShapeState.
ShapedDelivery shapeForDestination(const fhir::Json& bundle, const PlanRecord& record,
                                   const DestinationProfile& destination,
                                   const CapabilitySet* caps);

// Translates `record` with translateOptionsFor(destination, caps) and shapes the
// Bundle. Translation errors give kInvalid with the first error in `reason`.
// `storedBundle` (may be null): the record's stored Bundle, whose safety
// notices (mappings/safety/safety.h carryNoticeEntries) travel with the new translation.
ShapedDelivery shapeRecord(const PlanRecord& record, const MappingTables& tables,
                           const DestinationProfile& destination, const CapabilitySet* caps,
                           const fhir::Json* storedBundle = nullptr);

// ---- Building blocks, public for tests ----

// Calls `visit(referenceObject)` for every object with a string "reference"
// member inside `node` (depth first, document order).
void forEachReference(fhir::Json& node, const std::function<void(fhir::Json& reference)>& visit);
void forEachReference(const fhir::Json& node,
                      const std::function<void(const fhir::Json& reference)>& visit);

// True for a conditional reference "Type?search" (FHIR R4 http.html#trules).
bool isConditionalReference(std::string_view reference);

// Logical id prefix of the Communication that stands in for a CarePlan.
inline constexpr std::string_view kIdPrefixCommunication = "comm";

// The Communication identifier value for a care-plan record version:
// recordId + "/communication/v" + version (unique per version, so a replay
// updates the same Communication and a new version sends a new one).
std::string communicationIdentifierValue(std::string_view recordId, std::int64_t version);

// Plain text of an XHTML narrative div: table cells "label: value", one row or
// paragraph per line, markup removed, the five XML entities and numeric
// character references decoded.
std::string narrativeToText(std::string_view xhtml);

}  // namespace inloop::mappings

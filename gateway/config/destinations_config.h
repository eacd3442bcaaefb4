#pragma once

// Loading the destinations and routes (config/destinations.json, JSON with
// comments) into mappings::Destinations, and the command-line shorthands
// `--route PRACTICE_ID=KIND:URL` and `--destinations FILE`.
// docs/destinations.md documents every setting; config/destinations.json is a
// commented example.
//
// Read through fhir/binding.h: one list of fields per destination kind and per
// auth type, so a setting of another type is an unknown field (with a
// did-you-mean) and the messages are the binding's. Every problem is an issue
// with path "FILE:LINE:COLUMN" and the JSON path leading the message
// ("$.destinations[0].kind: expected one of ..."), collected, never stopping at
// the first: unknown keys, wrong types, bad ids, URLs and enum values,
// duplicate destination ids, routes naming unknown destinations, inline
// secrets. Rules across settings (plain http, TLS verification, patient
// matching) run once a destination's settings are sound. Relative paths (CA, certificates, keys,
// secret files, ndjson directories) are resolved against the folder of the file. A secret that is
// referenced but missing (file not readable, environment variable not set) is
// a WARNING at load time and an error when it is used (readSecret).
// `"verify": false` needs `"insecureSkipVerify": true`; such destinations are
// listed in DestinationsLoad::insecure so the caller logs them loudly. An http
// endpoint that is not loopback is an error unless the destination sets
// `"allowPlainHttpPhi": kPlainHttpPhiConsent` (then listed in
// DestinationsLoad::plainHttp, logged at every start); smart-backend never
// sends its assertion or token over plain http off loopback (docs/security.md).
//
// Thread safety: plain values and free functions; SecretProbe callables must be
// safe to call from the loading thread.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/issue.h"
#include "fhir/json.h"
#include "fhir/status.h"
#include "gateway/config/config_fields.h"
#include "mappings/shaping/destination.h"
#include "mappings/tables/tables.h"

namespace inloop::gateway {

inline constexpr std::string_view kDestinationsFileName = "destinations.json";

// The one value of a destination's "allowPlainHttpPhi" that lets it send
// patient data over plain http to a host that is not loopback.
inline constexpr std::string_view kPlainHttpPhiConsent =
    "I understand PHI crosses the network unencrypted";

// True for "destinations.json" (a base name), the file check-config hands to
// checkDestinationsFiles.
bool isDestinationsFileName(std::string_view fileName);

struct DestinationsLoad {
  std::optional<mappings::Destinations> config;  // set only when issues has no errors
  fhir::Issues issues;                           // paths "FILE:LINE:COLUMN"
  // Ids of destinations with TLS verification turned off: log each loudly.
  std::vector<std::string> insecure;
  // Ids of destinations sending PHI over plain http by allowPlainHttpPhi: log
  // each loudly, at every start and reload.
  std::vector<std::string> plainHttp;
};

// Parses and validates the text of `fileName` (used in issue paths) whose
// folder is `baseDir` (relative paths are resolved against it; empty: left as
// written). `probe` null: secrets are not checked for existence.
DestinationsLoad parseDestinationsConfig(std::string_view text, const std::string& fileName,
                                         const std::string& baseDir, const SecretProbe* probe);

// The destinations file for `destinations`, written by the same field lists
// that read it (paths as they were loaded); reading it back gives the same
// destinations and routes.
fhir::Json writeDestinationsConfig(const mappings::Destinations& destinations);

// Reads and parses `path` (at most 1 MiB); an unreadable file is one error issue.
DestinationsLoad readDestinationsFile(const std::string& path,
                                      const SecretProbe& probe = systemSecretProbe());

// One `--route PRACTICE_ID=KIND:URL`: the practice and a destination with
// default settings (auth none, TLS verified, conditional-create, every type).
struct RouteFlag {
  std::string practiceId;  // may be "*" (every practice)
  mappings::DestinationProfile destination;
};

// Parses "fm-1=fhir-transaction:http://127.0.0.1:8080/fhir/R4" or
// "fm-1=ndjson-dir:/var/spool/inloop". The destination id is
// "route-<practiceId>-<kind>" (characters outside [A-Za-z0-9._-] become '_',
// "*" becomes "any"). Fails with kInvalid and a message naming the problem:
// no '=', empty practice id, unknown kind, a URL that is not http(s) for the
// HTTP kinds, an empty directory.
fhir::Result<RouteFlag> parseRouteFlag(std::string_view text);

// Adds each flag's destination and route to `destinations`. Flags with the same
// kind and endpoint share one destination; an id already taken gets "-2", "-3"...
void addRouteFlags(std::vector<RouteFlag> flags, mappings::Destinations* destinations);

// `inloop serve` start-up: the destinations file (when `file` is set; missing
// otherwise is fine: no destinations), plus the `--route` flags (each bad flag
// is one error issue with path "--route"). config is set only without errors.
DestinationsLoad loadDestinations(const std::optional<std::string>& file,
                                  const std::vector<std::string>& routeFlags,
                                  const SecretProbe& probe = systemSecretProbe());

// Reads a secret at use: the file's content or the variable's value, with
// trailing whitespace (newline) removed. kNotFound when the file or variable
// does not exist, kIoError when the file cannot be read, kInvalid when it is
// empty or larger than 64 KiB. Messages name the source, never the secret.
fhir::Result<std::string> readSecret(const mappings::SecretRef& secret);

// For `inloop check-config DIR`: checks destinations.json given by name and
// text (issue paths "destinations.json:L:C"). The folder is unknown here, so
// secrets are not checked for existence.
fhir::Issues checkDestinationsFiles(const std::vector<mappings::TableFile>& files);

}  // namespace inloop::gateway

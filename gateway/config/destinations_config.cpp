#include "gateway/config/destinations_config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <utility>

#include "fhir/json.h"
#include "gateway/base/url_origin.h"

namespace inloop::gateway {

namespace {

using fhir::Json;
using mappings::AuthType;
using mappings::DestinationKind;
using mappings::DestinationProfile;
using mappings::SecretRef;
using mappings::SecretSource;

constexpr std::size_t kMaxConfigBytes = 1u << 20;
constexpr std::size_t kMaxSecretBytes = 64u << 10;

// Resource types inloop can send; `accepts` naming another type is a warning.
constexpr std::string_view kSentTypes[] = {
    "Patient",           "Organization",  "Observation", "CarePlan", "Goal", "MedicationStatement",
    "MedicationRequest", "Communication", "Provenance",
};

// Headers inloop sets itself, or that would carry secrets in the config text.
constexpr std::string_view kReservedHeaders[] = {
    "authorization", "proxy-authorization", "cookie",     "host",          "content-length",
    "content-type",  "transfer-encoding",   "connection", "if-none-exist",
};

bool isIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool isValidDestinationId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), isIdChar);
}

bool isEnvName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool isHeaderToken(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

using config_fields::UrlParts;

std::optional<UrlParts> parseHttpUrl(std::string_view url, std::string* why) {
  return config_fields::parseHttpUrl(url, false, why);
}

std::string stripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/' && s.find("://") + 3 < s.size() - 1) s.pop_back();
  return s;
}

// Walks one document, collecting issues with file:line:column paths.
class Reader {
 public:
  Reader(std::string_view text, std::string fileName, std::string baseDir, const SecretProbe* probe)
      : text_(text), fileName_(std::move(fileName)), baseDir_(std::move(baseDir)), probe_(probe) {}

  fhir::Issues& issues() { return issues_; }

  std::string where(const Json& node) const {
    auto [line, column] = fhir::lineColumnAt(text_, node.sourceOffset());
    return fileName_ + ":" + std::to_string(line) + ":" + std::to_string(column);
  }

  void error(const Json& node, std::string message, std::string code = "value") {
    fhir::addError(&issues_, std::move(code), where(node), std::move(message));
  }
  void warning(const Json& node, std::string message, std::string code = "value") {
    fhir::addWarning(&issues_, std::move(code), where(node), std::move(message));
  }

  // Calls `handle(key, value)` for each member; reports keys not in `known`.
  template <typename F>
  void members(const Json& object, std::string_view what,
               const std::vector<std::string_view>& known, F&& handle) {
    if (!object.isObject()) {
      error(object, std::string(what) + " must be an object", "structure");
      return;
    }
    for (const auto& [key, value] : object.members()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(value,
              "unknown setting \"" + key + "\" in " + std::string(what) + " (known: " + list + ")",
              "structure");
        continue;
      }
      handle(key, value);
    }
  }

  bool string(const Json& v, const std::string& name, std::string* out) {
    if (!v.isString() || v.text().empty()) {
      error(v, name + " must be a non-empty string");
      return false;
    }
    *out = v.text();
    return true;
  }

  bool path(const Json& v, const std::string& name, std::string* out) {
    if (!string(v, name, out)) return false;
    std::filesystem::path p(*out);
    if (p.is_relative() && !baseDir_.empty()) {
      *out = (std::filesystem::path(baseDir_) / p).lexically_normal().string();
    }
    return true;
  }

  // A path to a file that must exist when used: a warning now when it does not.
  bool existingFile(const Json& v, const std::string& name, std::string* out) {
    if (!path(v, name, out)) return false;
    if (probe_ != nullptr && probe_->fileReadable && !probe_->fileReadable(*out)) {
      warning(v,
              name + ": file " + *out +
                  " is not readable (yet); the destination fails "
                  "until it is",
              "not-found");
    }
    return true;
  }

  bool boolean(const Json& v, const std::string& name, bool* out) {
    if (!v.isBool()) {
      error(v, name + " must be true or false");
      return false;
    }
    *out = v.asBool();
    return true;
  }

  template <typename T>
  bool integer(const Json& v, const std::string& name, std::int64_t min, std::int64_t max, T* out) {
    std::optional<std::int64_t> n = v.isNumber() ? v.toInt64() : std::nullopt;
    if (!n || *n < min || *n > max) {
      error(v, name + " must be an integer from " + std::to_string(min) + " to " +
                   std::to_string(max));
      return false;
    }
    *out = static_cast<T>(*n);
    return true;
  }

  bool httpUrl(const Json& v, const std::string& name, std::string* out, UrlParts* parts) {
    if (!string(v, name, out)) return false;
    std::string why;
    std::optional<UrlParts> p = parseHttpUrl(*out, &why);
    if (!p) {
      error(v, name + " \"" + *out + "\" " + why);
      return false;
    }
    if (parts != nullptr) *parts = std::move(*p);
    *out = stripTrailingSlashes(std::move(*out));
    return true;
  }

  // {"file": PATH} or {"env": NAME}; never the secret itself.
  bool secret(const Json& v, const std::string& name, SecretRef* out) {
    if (v.isString()) {
      error(v,
            name +
                ": secrets are never written in this file; give {\"file\": PATH} or "
                "{\"env\": VARIABLE}",
            "security");
      return false;
    }
    if (!v.isObject() || v.size() != 1) {
      error(v, name + " must be {\"file\": PATH} or {\"env\": VARIABLE}");
      return false;
    }
    const auto& [key, value] = v.members().front();
    if (key == "file") {
      if (!path(value, name + ".file", &out->name)) return false;
      out->source = SecretSource::kFile;
      if (probe_ != nullptr && probe_->fileReadable && !probe_->fileReadable(out->name)) {
        warning(value,
                name + ": secret file " + out->name +
                    " is not readable (yet); the destination fails until it is",
                "not-found");
      }
      return true;
    }
    if (key == "env") {
      if (!value.isString() || !isEnvName(value.text())) {
        error(value, name + ".env must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        return false;
      }
      out->source = SecretSource::kEnv;
      out->name = value.text();
      if (probe_ != nullptr && probe_->envSet && !probe_->envSet(out->name)) {
        warning(value,
                name + ": environment variable " + out->name +
                    " is not set; the destination fails until it is",
                "not-found");
      }
      return true;
    }
    error(value, name + ": unknown secret source \"" + key + "\" (known: file, env)", "structure");
    return false;
  }

 private:
  std::string_view text_;
  std::string fileName_;
  std::string baseDir_;
  const SecretProbe* probe_;
  fhir::Issues issues_;
};

void readAuth(Reader& r, const Json& v, const std::string& what, DestinationProfile* d) {
  mappings::AuthSettings& a = d->auth;
  const Json* typeNode = v.isObject() ? v.find("type") : nullptr;
  if (v.isObject() && typeNode == nullptr) {
    r.error(v, what + " needs \"type\" (none, bearer, basic, smart-backend, mtls)", "required");
    return;
  }
  if (typeNode != nullptr) {
    std::optional<AuthType> t =
        typeNode->isString() ? mappings::authTypeFromName(typeNode->text()) : std::nullopt;
    if (!t) {
      r.error(*typeNode, what + ".type must be one of none, bearer, basic, smart-backend, mtls");
      return;
    }
    a.type = *t;
  }
  // Settings per type; a client certificate may accompany any type.
  std::vector<std::string_view> known;
  switch (a.type) {
    case AuthType::kNone:
      known = {"type", "certificateFile", "keyFile"};
      break;
    case AuthType::kBearer:
      known = {"type", "token", "certificateFile", "keyFile"};
      break;
    case AuthType::kBasic:
      known = {"type", "user", "password", "certificateFile", "keyFile"};
      break;
    case AuthType::kSmartBackend:
      known = {"type", "clientId", "tokenUrl",        "privateKeyFile", "keyId",
               "alg",  "scopes",   "certificateFile", "keyFile"};
      break;
    case AuthType::kMtls:
      known = {"type", "certificateFile", "keyFile"};
      break;
  }
  bool haveScopes = false;
  std::string tname = "auth (" + std::string(mappings::authTypeName(a.type)) + ")";
  r.members(v, what, known, [&](const std::string& key, const Json& value) {
    std::string name = what + "." + key;
    if (key == "type") return;
    if (key == "token") {
      r.secret(value, name, &a.token);
    } else if (key == "user") {
      if (r.string(value, name, &a.user) && a.user.find(':') != std::string::npos) {
        r.error(value, name + " must not contain ':' (HTTP basic)");
      }
    } else if (key == "password") {
      r.secret(value, name, &a.password);
    } else if (key == "clientId") {
      r.string(value, name, &a.smart.clientId);
    } else if (key == "tokenUrl") {
      r.httpUrl(value, name, &a.smart.tokenUrl, nullptr);
    } else if (key == "privateKeyFile") {
      r.existingFile(value, name, &a.smart.privateKeyFile);
    } else if (key == "keyId") {
      r.string(value, name, &a.smart.keyId);
    } else if (key == "alg") {
      std::optional<mappings::SigningAlg> alg =
          value.isString() ? mappings::signingAlgFromName(value.text()) : std::nullopt;
      if (!alg) {
        r.error(value, name + " must be \"RS384\" or \"ES384\"");
      } else {
        a.smart.alg = *alg;
      }
    } else if (key == "scopes") {
      haveScopes = true;
      if (!value.isArray() || value.items().empty()) {
        r.error(value, name + " must be a non-empty list of scopes (\"system/Observation.write\")");
        return;
      }
      for (const Json& s : value.items()) {
        std::string scope;
        if (!r.string(s, name + "[]", &scope)) continue;
        if (scope.find_first_of(" \t\r\n") != std::string::npos) {
          r.error(s, name + ": one scope per item, without spaces");
          continue;
        }
        a.smart.scopes.push_back(std::move(scope));
      }
    } else if (key == "certificateFile") {
      r.existingFile(value, name, &a.certificateFile);
    } else if (key == "keyFile") {
      r.existingFile(value, name, &a.keyFile);
    }
  });
  if (!v.isObject()) return;
  auto require = [&](bool present, std::string_view key) {
    if (!present) r.error(v, tname + " needs \"" + std::string(key) + "\"", "required");
  };
  switch (a.type) {
    case AuthType::kNone:
      break;
    case AuthType::kBearer:
      require(a.token.isSet() || v.find("token") != nullptr, "token");
      break;
    case AuthType::kBasic:
      require(!a.user.empty() || v.find("user") != nullptr, "user");
      require(a.password.isSet() || v.find("password") != nullptr, "password");
      break;
    case AuthType::kSmartBackend:
      require(!a.smart.clientId.empty() || v.find("clientId") != nullptr, "clientId");
      require(!a.smart.privateKeyFile.empty() || v.find("privateKeyFile") != nullptr,
              "privateKeyFile");
      require(haveScopes, "scopes");
      break;
    case AuthType::kMtls:
      require(v.find("certificateFile") != nullptr, "certificateFile");
      require(v.find("keyFile") != nullptr, "keyFile");
      break;
  }
  if (a.type != AuthType::kMtls &&
      (v.find("certificateFile") != nullptr) != (v.find("keyFile") != nullptr)) {
    r.error(v, what + ": a client certificate needs both \"certificateFile\" and \"keyFile\"",
            "required");
  }
}

void readTls(Reader& r, const Json& v, const std::string& what, DestinationProfile* d,
             bool* insecure) {
  const Json* verifyNode = nullptr;
  const Json* skipNode = nullptr;
  bool skip = false;
  r.members(v, what, {"caFile", "verify", "insecureSkipVerify"},
            [&](const std::string& key, const Json& value) {
              if (key == "caFile") {
                r.existingFile(value, what + ".caFile", &d->tls.caFile);
              } else if (key == "verify") {
                verifyNode = &value;
                r.boolean(value, what + ".verify", &d->tls.verify);
              } else {
                skipNode = &value;
                r.boolean(value, what + ".insecureSkipVerify", &skip);
              }
            });
  if (!d->tls.verify && !skip) {
    r.error(*verifyNode,
            what +
                ": turning certificate verification off needs \"insecureSkipVerify\": true "
                "as well (and is logged loudly)",
            "security");
  } else if (skip && d->tls.verify) {
    r.error(*skipNode, what + ": \"insecureSkipVerify\": true only confirms \"verify\": false",
            "security");
  } else if (!d->tls.verify) {
    *insecure = true;
    r.warning(*verifyNode,
              what + ": certificate verification is OFF for destination \"" + d->id +
                  "\": anyone on the network path can read and change what is sent",
              "security");
  }
}

// Extra static headers: an object of name -> value (any names, so not members()).
void readHeaders(Reader& r, const Json& v, const std::string& what, DestinationProfile* d) {
  if (!v.isObject()) {
    r.error(v, what + " must be an object of header name -> value", "structure");
    return;
  }
  for (const auto& [name, value] : v.members()) {
    std::string label = what + "[\"" + name + "\"]";
    if (!isHeaderToken(name)) {
      r.error(value, label + ": not a valid header name");
      continue;
    }
    std::string lname = lower(name);
    if (std::find(std::begin(kReservedHeaders), std::end(kReservedHeaders), lname) !=
        std::end(kReservedHeaders)) {
      bool credential = lname.find("auth") != std::string::npos || lname == "cookie";
      r.error(value,
              label + ": inloop sets this header itself" +
                  (credential ? " (credentials belong in \"auth\", never inline)" : ""),
              "security");
      continue;
    }
    if (!value.isString()) {
      r.error(value, label + " must be a string");
      continue;
    }
    bool clean = std::all_of(value.text().begin(), value.text().end(), [](char c) {
      return c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    });
    if (!clean) {
      r.error(value, label + " must not contain control characters (CR, LF)");
      continue;
    }
    d->headers.push_back({name, value.text()});
  }
}

// Plain http off loopback (docs/security.md, "Plain HTTP"): patient data would
// cross the network unencrypted, so the destination must say so in words
// (`allowPlainHttpPhi`); SMART assertions and tokens never go that way.
// `consentNode`: the allowPlainHttpPhi setting, or null. Returns true when the
// destination sends PHI over plain http by that consent.
bool checkPlainHttp(Reader& r, const DestinationProfile& d, const std::string& what,
                    const Json& endpointNode, const UrlParts& urlParts, const Json* consentNode) {
  const bool plain = urlParts.scheme == "http" && !isLoopbackHost(urlParts.host);
  bool consent = false;
  if (consentNode != nullptr) {
    consent = consentNode->isString() && consentNode->text() == kPlainHttpPhiConsent;
    if (!consent) {
      r.error(
          *consentNode,
          what + ".allowPlainHttpPhi must be exactly \"" + std::string(kPlainHttpPhiConsent) + "\"",
          "security");
    } else if (!plain) {
      r.error(*consentNode,
              what +
                  ": \"allowPlainHttpPhi\" only confirms a plain http endpoint that is not "
                  "loopback",
              "security");
    }
  }
  if (d.auth.type == AuthType::kSmartBackend) {
    for (const std::string& url : {d.endpoint, d.auth.smart.tokenUrl}) {
      if (url.empty()) continue;
      if (const char* problem = credentialUrlProblem(url, d.endpoint)) {
        r.error(endpointNode, what + ": smart-backend refuses " + url + ": " + problem, "security");
      }
    }
  }
  if (!plain) return false;
  if (!consent) {
    r.error(endpointNode,
            what + ": plain http to " + urlParts.host +
                " would carry patient data unencrypted; use https, or confirm with "
                "\"allowPlainHttpPhi\": \"" +
                std::string(kPlainHttpPhiConsent) + "\"",
            "security");
    return false;
  }
  r.warning(endpointNode,
            what + ": patient data crosses the network unencrypted (plain http to " +
                urlParts.host + ", allowed by \"allowPlainHttpPhi\")",
            "security");
  if (d.auth.type != AuthType::kNone) {
    r.warning(
        endpointNode,
        what + ": credentials would travel over plain http to " + urlParts.host + "; use https",
        "security");
  }
  return true;
}

void readDestination(Reader& r, const Json& v, std::size_t index, mappings::Destinations* config,
                     DestinationsLoad* load) {
  std::string what = "destinations[" + std::to_string(index) + "]";
  DestinationProfile d;
  const Json* idNode = nullptr;
  const Json* kindNode = nullptr;
  const Json* endpointNode = nullptr;
  const Json* authNode = nullptr;
  const Json* tlsNode = nullptr;
  const Json* matchingNode = nullptr;
  bool idOk = false;
  bool kindOk = false;
  // id and kind first: other settings are checked against them.
  if (v.isObject()) {
    idNode = v.find("id");
    kindNode = v.find("kind");
    if (idNode != nullptr) {
      if (!idNode->isString() || !isValidDestinationId(idNode->text())) {
        r.error(*idNode, what + ".id must be 1-64 characters of A-Z a-z 0-9 . _ -");
      } else {
        d.id = idNode->text();
        what = "destination \"" + d.id + "\"";
        idOk = true;
      }
    }
    if (kindNode != nullptr) {
      std::optional<DestinationKind> k =
          kindNode->isString() ? mappings::destinationKindFromName(kindNode->text()) : std::nullopt;
      if (!k) {
        r.error(*kindNode,
                what + ".kind must be one of fhir-transaction, fhir-put, http-bundle, ndjson-dir");
      } else {
        d.kind = *k;
        kindOk = true;
      }
    }
  }
  bool isInsecure = false;
  const Json* consentNode = nullptr;
  UrlParts urlParts;
  r.members(
      v, what,
      {"id", "kind", "endpoint", "enabled", "auth", "tls", "timeouts", "maxInFlight",
       "rateLimitPerSecond", "accepts", "fallbacks", "patientMatching", "headers",
       "conditionalReferences", "rotation", "allowPlainHttpPhi", "fileMode"},
      [&](const std::string& key, const Json& value) {
        std::string name = what + "." + key;
        if (key == "id" || key == "kind") return;
        if (key == "endpoint") {
          endpointNode = &value;
          if (!kindOk) return;
          if (d.kind == DestinationKind::kNdjsonDir) {
            r.path(value, name, &d.endpoint);
          } else {
            r.httpUrl(value, name, &d.endpoint, &urlParts);
          }
        } else if (key == "allowPlainHttpPhi") {
          consentNode = &value;  // checked with the endpoint, below
        } else if (key == "enabled") {
          r.boolean(value, name, &d.enabled);
        } else if (key == "conditionalReferences") {
          r.boolean(value, name, &d.conditionalReferences);
        } else if (key == "fileMode") {
          if (kindOk && d.kind != DestinationKind::kNdjsonDir) {
            r.error(value, name + " applies to ndjson-dir destinations only");
          } else if (value.isString() && value.text() == "0600") {
            d.fileMode = mappings::kOwnerOnlyFileMode;
          } else if (value.isString() && value.text() == "0640") {
            d.fileMode = mappings::kGroupReadableFileMode;
          } else {
            r.error(value, name + " must be \"0600\" (owner only) or \"0640\" (group may read)");
          }
        } else if (key == "rotation") {
          if (kindOk && d.kind != DestinationKind::kNdjsonDir) {
            r.error(value, name + " applies to ndjson-dir destinations only");
            return;
          }
          r.members(value, name, {"maxBytes", "maxAgeMs"},
                    [&](const std::string& k, const Json& t) {
                      if (k == "maxBytes") {
                        std::int64_t bytes = 0;
                        if (r.integer(t, name + ".maxBytes", 1024, std::int64_t{1} << 40, &bytes)) {
                          d.rotation.maxBytes = static_cast<std::uint64_t>(bytes);
                        }
                      } else {
                        r.integer(t, name + ".maxAgeMs", 100, 86400000, &d.rotation.maxAgeMs);
                      }
                    });
        } else if (key == "auth") {
          authNode = &value;
          readAuth(r, value, name, &d);
        } else if (key == "tls") {
          tlsNode = &value;
          readTls(r, value, name, &d, &isInsecure);
        } else if (key == "timeouts") {
          r.members(value, name, {"connectMs", "requestMs"},
                    [&](const std::string& k, const Json& t) {
                      if (k == "connectMs") {
                        r.integer(t, name + ".connectMs", 1, 600000, &d.timeouts.connectMs);
                      } else {
                        r.integer(t, name + ".requestMs", 1, 3600000, &d.timeouts.requestMs);
                      }
                    });
        } else if (key == "maxInFlight") {
          r.integer(value, name, 1, 256, &d.maxInFlight);
        } else if (key == "rateLimitPerSecond") {
          std::optional<double> rate = value.isNumber() ? value.toDouble() : std::nullopt;
          if (!rate || *rate < 0 || *rate > 100000) {
            r.error(value, name + " must be a number from 0 (unlimited) to 100000");
          } else {
            d.rateLimitPerSecond = *rate;
          }
        } else if (key == "accepts") {
          if (!value.isArray() || value.items().empty()) {
            r.error(value, name +
                               " must be a non-empty list of resource types (leave it out to "
                               "send every type)");
            return;
          }
          for (const Json& t : value.items()) {
            std::string type;
            if (!r.string(t, name + "[]", &type)) continue;
            if (std::find(d.accepts.begin(), d.accepts.end(), type) != d.accepts.end()) {
              r.error(t, name + " lists \"" + type + "\" twice", "duplicate");
              continue;
            }
            if (std::find(std::begin(kSentTypes), std::end(kSentTypes), type) ==
                std::end(kSentTypes)) {
              r.warning(t, name + ": inloop never sends \"" + type +
                               "\" (it sends Patient, Observation, CarePlan, Goal, "
                               "MedicationStatement, MedicationRequest, Communication, "
                               "Provenance)");
            }
            d.accepts.push_back(std::move(type));
          }
        } else if (key == "fallbacks") {
          r.members(value, name, {"MedicationStatement", "CarePlan", "Communication"},
                    [&](const std::string& k, const Json& f) {
                      const std::string& s = f.text();
                      if (k == "Communication") {
                        if (f.isString() && s == "note") {
                          d.fallbacks.notice = mappings::NoticeFallback::kNote;
                        } else if (f.isString() && s == "skip") {
                          d.fallbacks.notice = mappings::NoticeFallback::kSkip;
                        } else {
                          r.error(f, name + ".Communication must be \"note\" or \"skip\"");
                        }
                      } else if (k == "MedicationStatement") {
                        if (f.isString() && s == "MedicationRequest") {
                          d.fallbacks.medicationStatement =
                              mappings::MedicationFallback::kMedicationRequest;
                        } else if (f.isString() && s == "skip") {
                          d.fallbacks.medicationStatement = mappings::MedicationFallback::kSkip;
                        } else {
                          r.error(f, name +
                                         ".MedicationStatement must be \"MedicationRequest\" "
                                         "or \"skip\"");
                        }
                      } else if (f.isString() && s == "Communication") {
                        d.fallbacks.carePlan = mappings::CarePlanFallback::kCommunication;
                      } else if (f.isString() && s == "skip") {
                        d.fallbacks.carePlan = mappings::CarePlanFallback::kSkip;
                      } else {
                        r.error(f, name + ".CarePlan must be \"Communication\" or \"skip\"");
                      }
                    });
        } else if (key == "patientMatching") {
          matchingNode = &value;
          bool haveMode = false;
          r.members(value, name, {"mode", "patientIdentifierSystem"},
                    [&](const std::string& k, const Json& m) {
                      if (k == "mode") {
                        haveMode = true;
                        if (m.isString() && m.text() == "reference") {
                          d.patientMatching.mode = mappings::PatientMatchingMode::kReference;
                        } else if (m.isString() && m.text() == "conditional-create") {
                          d.patientMatching.mode =
                              mappings::PatientMatchingMode::kConditionalCreate;
                        } else {
                          r.error(m, name +
                                         ".mode must be \"reference\" or "
                                         "\"conditional-create\"");
                        }
                      } else if (r.string(m, name + ".patientIdentifierSystem",
                                          &d.patientMatching.patientIdentifierSystem) &&
                                 d.patientMatching.patientIdentifierSystem.find(':') ==
                                     std::string::npos) {
                        r.error(m, name +
                                       ".patientIdentifierSystem must be an absolute URI "
                                       "(\"urn:oid:...\", \"https://...\")");
                      }
                    });
          if (value.isObject() && !haveMode) {
            r.error(value, name + " needs \"mode\" (reference or conditional-create)", "required");
          }
        } else if (key == "headers") {
          readHeaders(r, value, name, &d);
        }
      });
  if (!v.isObject()) return;
  if (idNode == nullptr) r.error(v, what + " needs \"id\"", "required");
  if (kindNode == nullptr) r.error(v, what + " needs \"kind\"", "required");
  if (endpointNode == nullptr) r.error(v, what + " needs \"endpoint\"", "required");
  if (kindOk && d.kind == DestinationKind::kNdjsonDir) {
    if (authNode != nullptr && d.auth.type != AuthType::kNone) {
      r.error(*authNode, what + ": an ndjson-dir destination writes files and takes no auth");
    }
    if (tlsNode != nullptr) r.error(*tlsNode, what + ": an ndjson-dir destination has no TLS");
  }
  bool plainHttp = false;
  if (kindOk && d.kind != DestinationKind::kNdjsonDir && endpointNode != nullptr &&
      !urlParts.scheme.empty()) {
    plainHttp = checkPlainHttp(r, d, what, *endpointNode, urlParts, consentNode);
  } else if (consentNode != nullptr && kindOk && d.kind == DestinationKind::kNdjsonDir) {
    r.error(*consentNode, what + ": \"allowPlainHttpPhi\" applies to http destinations only",
            "security");
  }
  if (d.patientMatching.mode == mappings::PatientMatchingMode::kReference &&
      d.patientMatching.patientIdentifierSystem.empty() && matchingNode != nullptr &&
      matchingNode->isObject()) {
    r.error(*matchingNode,
            what +
                ": mode \"reference\" needs \"patientIdentifierSystem\" (the practice's own "
                "patient-id system as the EHR stores it)",
            "required");
  }
  if (d.patientMatching.mode == mappings::PatientMatchingMode::kConditionalCreate &&
      !d.patientMatching.patientIdentifierSystem.empty() && matchingNode != nullptr) {
    r.error(*matchingNode, what +
                               ": \"patientIdentifierSystem\" is used only with mode "
                               "\"reference\"");
  }
  if (!idOk) return;
  if (config->find(d.id) != nullptr) {
    r.error(*idNode, "duplicate destination id \"" + d.id + "\"", "duplicate");
    return;
  }
  if (isInsecure) load->insecure.push_back(d.id);
  if (plainHttp) load->plainHttp.push_back(d.id);
  config->destinations.push_back(std::move(d));
}

void readRoutes(Reader& r, const Json& v, mappings::Destinations* config,
                std::set<std::string>* routed) {
  if (!v.isObject()) {
    r.error(v, "routes must be an object: {\"PRACTICE_ID\": [\"DESTINATION_ID\", ...]}",
            "structure");
    return;
  }
  for (const auto& [practiceId, ids] : v.members()) {
    std::string what = "routes[\"" + practiceId + "\"]";
    if (practiceId.empty() || practiceId.size() > 64) {
      r.error(ids, "a practice id must be 1-64 characters");
      continue;
    }
    if (!ids.isArray() || ids.items().empty()) {
      r.error(ids, what + " must be a non-empty list of destination ids");
      continue;
    }
    std::vector<std::string> list;
    for (const Json& id : ids.items()) {
      if (!id.isString() || id.text().empty()) {
        r.error(id, what + ": a destination id must be a non-empty string");
        continue;
      }
      if (config->find(id.text()) == nullptr) {
        std::string known;
        for (const DestinationProfile& d : config->destinations) {
          known += (known.empty() ? "" : ", ") + d.id;
        }
        r.error(id,
                what + " names unknown destination \"" + id.text() +
                    "\" (known: " + (known.empty() ? "none" : known) + ")",
                "not-found");
        continue;
      }
      if (std::find(list.begin(), list.end(), id.text()) != list.end()) {
        r.error(id, what + " lists \"" + id.text() + "\" twice", "duplicate");
        continue;
      }
      list.push_back(id.text());
      routed->insert(id.text());
    }
    config->routes.emplace(practiceId, std::move(list));
  }
}

std::string routeIdPart(std::string_view practiceId) {
  if (practiceId == mappings::kAnyPractice) return "any";
  std::string out;
  for (char c : practiceId) out += isIdChar(c) ? c : '_';
  return out;
}

}  // namespace

bool isDestinationsFileName(std::string_view fileName) { return fileName == kDestinationsFileName; }

DestinationsLoad parseDestinationsConfig(std::string_view text, const std::string& fileName,
                                         const std::string& baseDir, const SecretProbe* probe) {
  DestinationsLoad out;
  fhir::JsonLimits limits;
  limits.maxBytes = kMaxConfigBytes;
  limits.maxDepth = 16;
  limits.allowComments = true;
  fhir::JsonParseError parseError;
  fhir::Result<Json> doc = fhir::parseJson(text, limits, &parseError);
  if (!doc.isOk()) {
    fhir::addError(
        &out.issues, "structure",
        fileName + ":" + std::to_string(parseError.line) + ":" + std::to_string(parseError.column),
        parseError.reason.empty() ? doc.status().message() : parseError.reason);
    return out;
  }
  Reader r(text, fileName, baseDir, probe);
  mappings::Destinations config;
  std::set<std::string> routed;
  const Json* routesNode = nullptr;
  r.members(*doc, "the destinations file", {"destinations", "routes"},
            [&](const std::string& key, const Json& value) {
              if (key == "routes") {
                routesNode = &value;
                return;
              }
              if (!value.isArray()) {
                r.error(value, "destinations must be a list", "structure");
                return;
              }
              for (std::size_t i = 0; i < value.items().size(); ++i) {
                readDestination(r, value.items()[i], i, &config, &out);
              }
            });
  // Routes after destinations, whatever the order in the file.
  if (routesNode != nullptr) readRoutes(r, *routesNode, &config, &routed);
  if (doc->isObject()) {
    for (const DestinationProfile& d : config.destinations) {
      if (routed.count(d.id) == 0) {
        const Json* list = doc->find("destinations");
        const Json* node = list != nullptr ? list : &doc.value();
        // The document's own items, not a copy: `node` is used after the loop.
        for (std::size_t i = 0; list != nullptr && i < list->items().size(); ++i) {
          const Json& item = list->items()[i];
          const Json* id = item.isObject() ? item.find("id") : nullptr;
          if (id != nullptr && id->isString() && id->text() == d.id) node = &item;
        }
        r.warning(*node, "destination \"" + d.id + "\" is named by no route: it receives nothing");
      }
    }
    if (config.routes.empty() && !fhir::hasErrors(r.issues())) {
      r.warning(*doc, "no routes: every record is stored as unroutable");
    }
  }
  out.issues = std::move(r.issues());
  if (!fhir::hasErrors(out.issues)) out.config = std::move(config);
  return out;
}

DestinationsLoad readDestinationsFile(const std::string& path, const SecretProbe& probe) {
  DestinationsLoad out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fhir::addError(&out.issues, "not-found", path, "cannot open the destinations file");
    return out;
  }
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      fhir::addError(&out.issues, "too-costly", path, "the destinations file is larger than 1 MiB");
      return out;
    }
  }
  if (in.bad()) {
    fhir::addError(&out.issues, "exception", path, "cannot read the destinations file");
    return out;
  }
  std::string baseDir = std::filesystem::path(path).parent_path().string();
  if (baseDir.empty()) baseDir = ".";
  return parseDestinationsConfig(text, path, baseDir, &probe);
}

fhir::Result<RouteFlag> parseRouteFlag(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        "--route \"" + std::string(text) + "\": " + why +
                            " (expected PRACTICE_ID=KIND:URL, e.g. "
                            "fm-1=fhir-transaction:http://127.0.0.1:8080/fhir/R4)");
  };
  std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) return bad("no '='");
  std::string_view practice = text.substr(0, eq);
  std::string_view rest = text.substr(eq + 1);
  if (practice.empty()) return bad("empty practice id");
  if (practice.size() > 64) return bad("the practice id is longer than 64 characters");
  for (char c : practice) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return bad("the practice id contains spaces or control characters");
    }
  }
  std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return bad("no ':' between KIND and URL");
  std::string_view kindName = rest.substr(0, colon);
  std::string_view url = rest.substr(colon + 1);
  std::optional<DestinationKind> kind = mappings::destinationKindFromName(kindName);
  if (!kind) {
    return bad("unknown kind \"" + std::string(kindName) +
               "\" (fhir-transaction, fhir-put, http-bundle, ndjson-dir)");
  }
  RouteFlag flag;
  flag.practiceId = std::string(practice);
  DestinationProfile& d = flag.destination;
  d.kind = *kind;
  if (*kind == DestinationKind::kNdjsonDir) {
    if (url.empty()) return bad("empty directory");
    d.endpoint = std::string(url);
  } else {
    std::string why;
    const std::optional<UrlParts> parts = parseHttpUrl(url, &why);
    if (!parts) return bad("URL \"" + std::string(url) + "\" " + why);
    if (parts->scheme == "http" && !isLoopbackHost(parts->host)) {
      return bad("plain http to " + parts->host +
                 " would carry patient data unencrypted; use https (or a destinations file "
                 "whose destination sets \"allowPlainHttpPhi\")");
    }
    d.endpoint = stripTrailingSlashes(std::string(url));
  }
  d.id = "route-" + routeIdPart(practice) + "-" + std::string(kindName);
  if (d.id.size() > 64) d.id.resize(64);
  return flag;
}

void addRouteFlags(std::vector<RouteFlag> flags, mappings::Destinations* destinations) {
  std::vector<std::string> fromFlags;  // ids this call added
  for (RouteFlag& f : flags) {
    std::string id;
    for (const std::string& own : fromFlags) {
      const DestinationProfile* d = destinations->find(own);
      if (d != nullptr && d->kind == f.destination.kind && d->endpoint == f.destination.endpoint) {
        id = own;
      }
    }
    if (id.empty()) {
      std::string base = f.destination.id;
      id = base;
      for (int n = 2; destinations->find(id) != nullptr; ++n) {
        std::string suffix = "-" + std::to_string(n);
        id = base.substr(0, 64 - suffix.size()) + suffix;
      }
      f.destination.id = id;
      destinations->destinations.push_back(std::move(f.destination));
      fromFlags.push_back(id);
    }
    std::vector<std::string>& route = destinations->routes[f.practiceId];
    if (std::find(route.begin(), route.end(), id) == route.end()) route.push_back(id);
  }
}

DestinationsLoad loadDestinations(const std::optional<std::string>& file,
                                  const std::vector<std::string>& routeFlags,
                                  const SecretProbe& probe) {
  DestinationsLoad out;
  if (file) {
    out = readDestinationsFile(*file, probe);
  } else {
    out.config = mappings::Destinations{};
  }
  std::vector<RouteFlag> flags;
  for (const std::string& text : routeFlags) {
    fhir::Result<RouteFlag> f = parseRouteFlag(text);
    if (!f.isOk()) {
      fhir::addError(&out.issues, "value", "--route", f.status().message());
      continue;
    }
    flags.push_back(std::move(f).value());
  }
  if (fhir::hasErrors(out.issues)) {
    out.config.reset();
    return out;
  }
  if (out.config) addRouteFlags(std::move(flags), &*out.config);
  return out;
}

fhir::Result<std::string> readSecret(const SecretRef& secret) {
  std::string value;
  switch (secret.source) {
    case SecretSource::kNone:
      return fhir::Status(fhir::ErrorCode::kNotFound, "no secret configured");
    case SecretSource::kEnv: {
      const char* v = std::getenv(secret.name.c_str());
      if (v == nullptr) {
        return fhir::Status(fhir::ErrorCode::kNotFound,
                            "environment variable " + secret.name + " is not set");
      }
      value = v;
      break;
    }
    case SecretSource::kFile: {
      std::error_code ec;
      if (!std::filesystem::exists(secret.name, ec)) {
        return fhir::Status(fhir::ErrorCode::kNotFound,
                            "secret file " + secret.name + " does not exist");
      }
      std::ifstream in(secret.name, std::ios::binary);
      if (!in) {
        return fhir::Status(fhir::ErrorCode::kIoError,
                            "secret file " + secret.name + " cannot be opened");
      }
      char buf[4096];
      while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        value.append(buf, static_cast<std::size_t>(in.gcount()));
        if (value.size() > kMaxSecretBytes) {
          return fhir::Status(fhir::ErrorCode::kInvalid,
                              "secret file " + secret.name + " is larger than 64 KiB");
        }
      }
      if (in.bad()) {
        return fhir::Status(fhir::ErrorCode::kIoError,
                            "secret file " + secret.name + " cannot be read");
      }
      break;
    }
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ' ||
                            value.back() == '\t')) {
    value.pop_back();
  }
  if (value.empty()) {
    return fhir::Status(fhir::ErrorCode::kInvalid, mappings::describeSecret(secret) + " is empty");
  }
  if (value.size() > kMaxSecretBytes) {
    return fhir::Status(fhir::ErrorCode::kInvalid,
                        mappings::describeSecret(secret) + " is larger than 64 KiB");
  }
  return value;
}

fhir::Issues checkDestinationsFiles(const std::vector<mappings::TableFile>& files) {
  fhir::Issues issues;
  for (const mappings::TableFile& f : files) {
    DestinationsLoad load = parseDestinationsConfig(f.text, f.name, "", nullptr);
    issues.insert(issues.end(), load.issues.begin(), load.issues.end());
  }
  return issues;
}

}  // namespace inloop::gateway

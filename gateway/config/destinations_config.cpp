#include "gateway/config/destinations_config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <utility>

#include "fhir/binding.h"
#include "fhir/json.h"
#include "gateway/base/url_origin.h"

namespace inloop::gateway {

namespace {

namespace bind = fhir::bind;
using config_fields::FileName;
using config_fields::HttpUrl;
using config_fields::Secret;
using fhir::Json;
using mappings::AuthSettings;
using mappings::AuthType;
using mappings::DestinationKind;
using mappings::DestinationProfile;
using mappings::Destinations;
using mappings::SecretRef;
using mappings::SecretSource;

template <typename T>
using FieldList = std::vector<std::shared_ptr<const bind::Field<T>>>;

constexpr std::size_t kMaxConfigBytes = 1u << 20;
constexpr std::size_t kMaxSecretBytes = 64u << 10;

// Resource types inloop can send; `accepts` naming another type is a warning.
constexpr std::string_view kSentTypes[] = {
    "Patient",           "Organization",  "Observation", "CarePlan", "Goal", "MedicationStatement",
    "MedicationRequest", "Communication", "Provenance",
};

// Headers inloop sets itself, or that would carry secrets in the config text;
// nullptr when `name` may be set.
const char* headerRefusal(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "authorization", "proxy-authorization", "cookie",     "host",          "content-length",
      "content-type",  "transfer-encoding",   "connection", "if-none-exist",
  };
  std::string lname(name);
  for (char& c : lname) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (std::find(std::begin(kReserved), std::end(kReserved), lname) == std::end(kReserved)) {
    return nullptr;
  }
  const bool credential = lname.find("auth") != std::string::npos || lname == "cookie";
  return credential
             ? "inloop sets this header itself (credentials belong in \"auth\", never inline)"
             : "inloop sets this header itself";
}

// The host an http destination sends to in clear (plain http, not loopback);
// nullopt otherwise.
std::optional<std::string> plainHttpHost(const DestinationProfile& d) {
  if (d.kind == DestinationKind::kNdjsonDir) return std::nullopt;
  std::string why;
  std::optional<config_fields::UrlParts> url = config_fields::parseHttpUrl(d.endpoint, false, &why);
  if (!url || url->scheme != "http" || isLoopbackHost(url->host)) return std::nullopt;
  return url->host;
}

// ---- Codecs and fields used below ----

const bind::Enum<DestinationKind>& kindCodes() {
  using K = DestinationKind;
  static const bind::Enum<K> codes{
      {mappings::destinationKindName(K::kFhirTransaction), K::kFhirTransaction},
      {mappings::destinationKindName(K::kFhirPut), K::kFhirPut},
      {mappings::destinationKindName(K::kHttpBundle), K::kHttpBundle},
      {mappings::destinationKindName(K::kNdjsonDir), K::kNdjsonDir},
  };
  return codes;
}

const bind::Enum<AuthType>& authTypeCodes() {
  static const bind::Enum<AuthType> codes{
      {mappings::authTypeName(AuthType::kNone), AuthType::kNone},
      {mappings::authTypeName(AuthType::kBearer), AuthType::kBearer},
      {mappings::authTypeName(AuthType::kBasic), AuthType::kBasic},
      {mappings::authTypeName(AuthType::kSmartBackend), AuthType::kSmartBackend},
      {mappings::authTypeName(AuthType::kMtls), AuthType::kMtls},
  };
  return codes;
}

// A number from min to max, kept as a double.
struct Number {
  std::int64_t min = 0;
  std::int64_t max = 0;

  bool read(bind::Reading& r, const Json& v, const bind::Path& p, double* out) const {
    const std::string range = bind::rangeText("a number", std::to_string(min), std::to_string(max));
    if (!v.isNumber()) return r.wrongType(v, p, range), false;
    const std::optional<double> n = v.toDouble();
    if (!n || *n < static_cast<double>(min) || *n > static_cast<double>(max)) {
      return r.outOfRange(v, p, range), false;
    }
    *out = *n;
    return true;
  }
  Json write(const double& n) const { return Json::number(n); }
};

// A setting of another variant (another kind of destination): known, so no
// did-you-mean to some other name, and refused in `why`'s words.
template <typename T>
std::shared_ptr<const bind::Field<T>> refused(std::string_view name, const char* code,
                                              const char* why) {
  return bind::computedField<T>(
      name, bind::kOptional, [code, why](bind::Reading& r, const Json& v, const bind::Path& p, T*) {
        r.error(code, v, p, why);
        return false;
      });
}

// A setting that cannot be checked because what it depends on is wrong (and
// reported there).
template <typename T>
std::shared_ptr<const bind::Field<T>> unchecked(std::string_view name, bind::Need need) {
  return bind::computedField<T>(
      name, need, [](bind::Reading&, const Json&, const bind::Path&, T*) { return true; });
}

// ---- auth: one list of settings per type ----

const char* checkBasicUser(std::string_view s) {
  return s.find(':') == std::string_view::npos ? nullptr
                                               : "expected a user name without ':' (HTTP basic)";
}

const char* checkScope(std::string_view s) {
  return s.find_first_of(" \t\r\n") == std::string_view::npos
             ? nullptr
             : "expected one scope per item, without spaces";
}

// Reads "type" first, then the object by that type's fields: a setting of
// another type is an unknown field (with a did-you-mean). A client
// certificate (certificateFile + keyFile) may accompany any type.
class AuthCodec {
 public:
  AuthCodec(const std::string& baseDir, const SecretProbe* probe) {
    using A = AuthSettings;
    using S = mappings::SmartBackendSettings;
    const FileName file{baseDir, probe};
    const Secret secret{baseDir, probe};
    auto type = bind::field("type", &A::type, bind::kRequired, authTypeCodes());
    auto certificate = bind::field("certificateFile", &A::certificateFile, bind::kOptional, file);
    auto key = bind::field("keyFile", &A::keyFile, bind::kOptional, file);
    const bind::Fields<A>::Rule bothOrNeither = [](bind::Reading& r, const Json& object,
                                                   const bind::Path& p, A*) {
      if ((object.find("certificateFile") != nullptr) != (object.find("keyFile") != nullptr)) {
        r.error("required", object, p,
                "a client certificate needs both \"certificateFile\" and \"keyFile\"");
      }
    };
    add(AuthType::kNone, bind::Fields<A>({type, certificate, key}, bothOrNeither));
    add(AuthType::kBearer,
        bind::Fields<A>(
            {type, bind::field("token", &A::token, bind::kRequired, secret), certificate, key},
            bothOrNeither));
    add(AuthType::kBasic,
        bind::Fields<A>(
            {type,
             bind::field("user", &A::user, bind::kRequired, bind::Text{.check = checkBasicUser}),
             bind::field("password", &A::password, bind::kRequired, secret), certificate, key},
            bothOrNeither));
    add(AuthType::kSmartBackend,
        bind::Fields<A>(
            {
                type,
                bind::within(&A::smart,
                             bind::field("clientId", &S::clientId, bind::kRequired, bind::Text{})),
                bind::within(&A::smart,
                             bind::field("tokenUrl", &S::tokenUrl, bind::kOptional, HttpUrl{})),
                bind::within(&A::smart, bind::field("privateKeyFile", &S::privateKeyFile,
                                                    bind::kRequired, file)),
                bind::within(&A::smart,
                             bind::field("keyId", &S::keyId, bind::kOptional, bind::Text{})),
                bind::within(
                    &A::smart,
                    bind::field("alg", &S::alg, bind::kOptional,
                                bind::Enum<mappings::SigningAlg>{
                                    {mappings::signingAlgName(mappings::SigningAlg::kRs384),
                                     mappings::SigningAlg::kRs384},
                                    {mappings::signingAlgName(mappings::SigningAlg::kEs384),
                                     mappings::SigningAlg::kEs384}})),
                bind::within(&A::smart,
                             bind::field("scopes", &S::scopes, bind::kRequired,
                                         bind::List<bind::Text>{.item = {.check = checkScope},
                                                                .minItems = 1})),
                certificate,
                key,
            },
            bothOrNeither));
    add(AuthType::kMtls,
        bind::Fields<A>({
            type,
            bind::field("certificateFile", &A::certificateFile, bind::kRequired, file),
            bind::field("keyFile", &A::keyFile, bind::kRequired, file),
        }));
  }

  bool read(bind::Reading& r, const Json& v, const bind::Path& p, AuthSettings* out) const {
    if (!v.isObject()) return r.wrongType(v, p, "an object"), false;
    const Json* type = v.find("type");
    if (type == nullptr) return r.missing(v, p.member("type")), false;
    AuthType t = AuthType::kNone;
    if (!authTypeCodes().read(r, *type, p.member("type"), &t)) return false;
    return bind::readObject(r, v, p, *byType_.at(t), out);
  }
  Json write(const AuthSettings& a) const { return bind::writeObject(a, *byType_.at(a.type)); }

 private:
  void add(AuthType type, bind::Fields<AuthSettings> fields) {
    byType_.emplace(type, std::make_shared<const bind::Fields<AuthSettings>>(std::move(fields)));
  }
  std::map<AuthType, std::shared_ptr<const bind::Fields<AuthSettings>>> byType_;
};

// ---- tls ----

// "verify": false needs "insecureSkipVerify": true beside it, and the second
// only confirms the first.
bind::Fields<mappings::TlsSettings> tlsFields(const std::string& baseDir,
                                              const SecretProbe* probe) {
  using T = mappings::TlsSettings;
  return bind::Fields<T>(
      {
          bind::field("caFile", &T::caFile, bind::kOptional, FileName{baseDir, probe}),
          bind::field("verify", &T::verify, bind::kOptional, bind::Boolean{}),
          bind::computedField<T>(
              "insecureSkipVerify", bind::kOptional,
              [](bind::Reading& r, const Json& v, const bind::Path& p, T*) {
                bool skip = false;
                return bind::Boolean{}.read(r, v, p, &skip);
              },
              [](const T& tls, Json* object) {
                if (!tls.verify) object->set("insecureSkipVerify", Json::boolean(true));
              }),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, T* tls) {
        const Json* skip = object.find("insecureSkipVerify");
        const bool skipped = skip != nullptr && skip->asBool();
        if (!tls->verify && !skipped) {
          r.error("security", *object.find("verify"), p.member("verify"),
                  "turning certificate verification off needs \"insecureSkipVerify\": true as "
                  "well (and is logged loudly)");
        } else if (skipped && tls->verify) {
          r.error("security", *skip, p.member("insecureSkipVerify"),
                  "\"insecureSkipVerify\": true only confirms \"verify\": false");
        }
      });
}

// ---- The other objects of a destination ----

const bind::Fields<mappings::Timeouts>& timeoutFields() {
  using T = mappings::Timeouts;
  static const bind::Fields<T> fields{
      bind::field("connectMs", &T::connectMs, bind::kOptional,
                  bind::Integer<std::int64_t>{.min = 1, .max = 600'000}),
      bind::field("requestMs", &T::requestMs, bind::kOptional,
                  bind::Integer<std::int64_t>{.min = 1, .max = 3'600'000}),
  };
  return fields;
}

const bind::Fields<mappings::FileRotation>& rotationFields() {
  using F = mappings::FileRotation;
  static const bind::Fields<F> fields{
      bind::field("maxBytes", &F::maxBytes, bind::kOptional,
                  bind::Integer<std::uint64_t>{.min = 1024, .max = std::int64_t{1} << 40}),
      bind::field("maxAgeMs", &F::maxAgeMs, bind::kOptional,
                  bind::Integer<std::int64_t>{.min = 100, .max = 86'400'000}),
  };
  return fields;
}

const bind::Fields<mappings::Fallbacks>& fallbackFields() {
  using F = mappings::Fallbacks;
  using mappings::CarePlanFallback;
  using mappings::MedicationFallback;
  using mappings::NoticeFallback;
  static const bind::Fields<F> fields{
      bind::field("MedicationStatement", &F::medicationStatement, bind::kOptional,
                  bind::Enum<MedicationFallback>{
                      {"MedicationRequest", MedicationFallback::kMedicationRequest},
                      {"skip", MedicationFallback::kSkip}}),
      bind::field("CarePlan", &F::carePlan, bind::kOptional,
                  bind::Enum<CarePlanFallback>{{"Communication", CarePlanFallback::kCommunication},
                                               {"skip", CarePlanFallback::kSkip}}),
      bind::field("Communication", &F::notice, bind::kOptional,
                  bind::Enum<NoticeFallback>{{"note", NoticeFallback::kNote},
                                             {"skip", NoticeFallback::kSkip}}),
  };
  return fields;
}

const char* checkAbsoluteUri(std::string_view s) {
  return s.find(':') != std::string_view::npos
             ? nullptr
             : "expected an absolute URI (\"urn:oid:...\", \"https://...\")";
}

// "patientIdentifierSystem" goes with mode "reference", and only with it.
const bind::Fields<mappings::PatientMatching>& patientMatchingFields() {
  using M = mappings::PatientMatching;
  using mappings::PatientMatchingMode;
  static const bind::Fields<M> fields{
      {
          bind::field("mode", &M::mode, bind::kRequired,
                      bind::Enum<PatientMatchingMode>{
                          {"reference", PatientMatchingMode::kReference},
                          {"conditional-create", PatientMatchingMode::kConditionalCreate}}),
          bind::field("patientIdentifierSystem", &M::patientIdentifierSystem, bind::kOptional,
                      bind::Text{.check = checkAbsoluteUri}),
      },
      [](bind::Reading& r, const Json& object, const bind::Path& p, M* m) {
        if (m->mode == PatientMatchingMode::kReference && m->patientIdentifierSystem.empty()) {
          r.error("required", object, p,
                  "mode \"reference\" needs \"patientIdentifierSystem\" (the practice's own "
                  "patient-id system as the EHR stores it)");
        }
        if (m->mode == PatientMatchingMode::kConditionalCreate &&
            !m->patientIdentifierSystem.empty()) {
          r.error("value", object, p,
                  "\"patientIdentifierSystem\" is used only with mode \"reference\"");
        }
      }};
  return fields;
}

// A non-empty list of resource types, each once; a type inloop never sends is
// a warning (the list may be shared with other senders).
const bind::Custom<std::vector<std::string>>& acceptsCodec() {
  static const bind::Custom<std::vector<std::string>> codec{
      [](bind::Reading& r, const Json& v, const bind::Path& p, std::vector<std::string>* out) {
        if (!bind::List<bind::Text>{.minItems = 1, .unique = true}.read(r, v, p, out)) {
          return false;
        }
        for (std::size_t i = 0; i < out->size(); ++i) {
          if (std::find(std::begin(kSentTypes), std::end(kSentTypes), (*out)[i]) ==
              std::end(kSentTypes)) {
            r.warning("value", v.items()[i], p.item(i),
                      "inloop never sends \"" + (*out)[i] + "\" (it sends " +
                          bind::quotedList(kSentTypes) + ")");
          }
        }
        return true;
      },
      [](const std::vector<std::string>& types) { return bind::List<bind::Text>{}.write(types); }};
  return codec;
}

// ---- A destination: one list of settings per kind ----

// Plain http off loopback (docs/security.md, "Plain HTTP"): patient data
// would cross the network unencrypted, so the destination must say so in
// words (allowPlainHttpPhi); SMART assertions and tokens never go that way.
void checkHttpDestination(bind::Reading& r, const Json& object, const bind::Path& p,
                          DestinationProfile* d) {
  const Json& endpoint = *object.find("endpoint");
  const bind::Path endpointAt = p.member("endpoint");
  const std::optional<std::string> plainHost = plainHttpHost(*d);
  const Json* consent = object.find("allowPlainHttpPhi");
  if (consent != nullptr && !plainHost) {
    r.error("security", *consent, p.member("allowPlainHttpPhi"),
            "\"allowPlainHttpPhi\" only confirms a plain http endpoint that is not loopback");
  }
  if (d->auth.type == AuthType::kSmartBackend) {
    for (const std::string& url : {d->endpoint, d->auth.smart.tokenUrl}) {
      if (url.empty()) continue;
      if (const char* problem = credentialUrlProblem(url, d->endpoint)) {
        r.error("security", endpoint, endpointAt,
                "smart-backend refuses " + url + ": " + std::string(problem));
      }
    }
  }
  if (plainHost && consent == nullptr) {
    r.error("security", endpoint, endpointAt,
            "plain http to " + *plainHost +
                " would carry patient data unencrypted; use https, or confirm with "
                "\"allowPlainHttpPhi\": \"" +
                std::string(kPlainHttpPhiConsent) + "\"");
  } else if (plainHost) {
    r.warning("security", endpoint, endpointAt,
              "patient data crosses the network unencrypted (plain http to " + *plainHost +
                  ", allowed by \"allowPlainHttpPhi\")");
    if (d->auth.type != AuthType::kNone) {
      r.warning("security", endpoint, endpointAt,
                "credentials would travel over plain http to " + *plainHost + "; use https");
    }
  }
  if (!d->tls.verify) {
    const bind::Path tlsAt = p.member("tls");
    r.warning("security", *object.find("tls")->find("verify"), tlsAt.member("verify"),
              "certificate verification is OFF for destination \"" + d->id +
                  "\": anyone on the network path can read and change what is sent");
  }
}

// Reads "kind" first, then the destination by that kind's fields: the http
// kinds (an endpoint URL, auth, TLS) or ndjson-dir (a folder, file mode and
// rotation). With an unknown kind, the settings that depend on it are left
// unchecked (the kind is reported).
class DestinationCodec {
 public:
  DestinationCodec(const std::string& baseDir, const SecretProbe* probe) {
    using D = DestinationProfile;
    const AuthCodec auth(baseDir, probe);
    const FieldList<D> head = {
        bind::field("id", &D::id, bind::kRequired, bind::Text{.check = config_fields::checkId}),
        bind::field("kind", &D::kind, bind::kRequired, kindCodes()),
    };
    const FieldList<D> tail = {
        bind::field("enabled", &D::enabled, bind::kOptional, bind::Boolean{}),
        bind::field("timeouts", &D::timeouts, bind::kOptional,
                    bind::Object<mappings::Timeouts>{timeoutFields}),
        bind::field("maxInFlight", &D::maxInFlight, bind::kOptional,
                    bind::Integer<int>{.min = 1, .max = 256}),
        bind::field("rateLimitPerSecond", &D::rateLimitPerSecond, bind::kOptional,
                    Number{.min = 0, .max = 100'000}),
        bind::field("accepts", &D::accepts, bind::kOptional, acceptsCodec()),
        bind::field("fallbacks", &D::fallbacks, bind::kOptional,
                    bind::Object<mappings::Fallbacks>{fallbackFields}),
        bind::field("patientMatching", &D::patientMatching, bind::kOptional,
                    bind::Object<mappings::PatientMatching>{patientMatchingFields}),
        bind::field("headers", &D::headers, bind::kOptional,
                    config_fields::headerMap<mappings::HeaderField>(
                        headerRefusal, bind::Text{.minChars = 0,
                                                  .check = config_fields::checkHeaderValue,
                                                  .quoteValue = false})),
        bind::field("conditionalReferences", &D::conditionalReferences, bind::kOptional,
                    bind::Boolean{}),
    };
    auto authField = bind::field("auth", &D::auth, bind::kOptional, auth);
    auto tlsField = bind::field("tls", &D::tls, bind::kOptional,
                                bind::Object<mappings::TlsSettings>{tlsFields(baseDir, probe)});
    const char* kFilesOnly = "applies to ndjson-dir destinations only";
    http_ = assemble(head,
                     {
                         bind::field("endpoint", &D::endpoint, bind::kRequired, HttpUrl{}),
                         authField,
                         tlsField,
                         bind::computedField<D>(
                             "allowPlainHttpPhi", bind::kOptional,
                             [](bind::Reading& r, const Json& v, const bind::Path& p, D*) {
                               if (v.isString() && v.text() == kPlainHttpPhiConsent) return true;
                               r.error("security", v, p,
                                       "expected exactly \"" + std::string(kPlainHttpPhiConsent) +
                                           "\", got " + r.describe(v, p));
                               return false;
                             },
                             [](const D& d, Json* object) {
                               if (plainHttpHost(d)) {
                                 object->set("allowPlainHttpPhi",
                                             Json::string(std::string(kPlainHttpPhiConsent)));
                               }
                             }),
                         refused<D>("fileMode", "value", kFilesOnly),
                         refused<D>("rotation", "value", kFilesOnly),
                     },
                     tail, checkHttpDestination);
    files_ = assemble(
        head,
        {
            bind::field("endpoint", &D::endpoint, bind::kRequired, FileName{baseDir}),
            bind::computedField<D>(
                "auth", bind::kOptional,
                [auth](bind::Reading& r, const Json& v, const bind::Path& p, D* d) {
                  if (!auth.read(r, v, p, &d->auth)) return false;
                  if (d->auth.type == AuthType::kNone) return true;
                  r.error("value", v, p,
                          "an ndjson-dir destination writes files and takes no auth");
                  return false;
                },
                [auth](const D& d, Json* object) {
                  if (d.auth != AuthSettings{}) object->set("auth", auth.write(d.auth));
                }),
            refused<D>("tls", "value", "an ndjson-dir destination has no TLS"),
            refused<D>("allowPlainHttpPhi", "security", "applies to http destinations only"),
            bind::field("fileMode", &D::fileMode, bind::kOptional,
                        bind::Enum<unsigned>{{"0600", mappings::kOwnerOnlyFileMode},
                                             {"0640", mappings::kGroupReadableFileMode}}),
            bind::field("rotation", &D::rotation, bind::kOptional,
                        bind::Object<mappings::FileRotation>{rotationFields}),
        },
        tail, {});
    unknownKind_ = assemble(head,
                            {
                                unchecked<D>("endpoint", bind::kRequired),
                                authField,
                                tlsField,
                                unchecked<D>("allowPlainHttpPhi", bind::kOptional),
                                unchecked<D>("fileMode", bind::kOptional),
                                unchecked<D>("rotation", bind::kOptional),
                            },
                            tail, {});
  }

  bool read(bind::Reading& r, const Json& v, const bind::Path& p, DestinationProfile* out) const {
    const Json* kind = v.isObject() ? v.find("kind") : nullptr;
    std::optional<DestinationKind> k;
    if (kind != nullptr && kind->isString()) k = mappings::destinationKindFromName(kind->text());
    return bind::readObject(r, v, p, fieldsFor(k), out);
  }
  Json write(const DestinationProfile& d) const { return bind::writeObject(d, fieldsFor(d.kind)); }

 private:
  using Fields = bind::Fields<DestinationProfile>;

  static std::shared_ptr<const Fields> assemble(const FieldList<DestinationProfile>& head,
                                                const FieldList<DestinationProfile>& middle,
                                                const FieldList<DestinationProfile>& tail,
                                                Fields::Rule rule) {
    FieldList<DestinationProfile> all = head;
    all.insert(all.end(), middle.begin(), middle.end());
    all.insert(all.end(), tail.begin(), tail.end());
    return std::make_shared<const Fields>(std::move(all), std::move(rule));
  }

  const Fields& fieldsFor(std::optional<DestinationKind> kind) const {
    if (!kind) return *unknownKind_;
    return *kind == DestinationKind::kNdjsonDir ? *files_ : *http_;
  }

  std::shared_ptr<const Fields> http_;
  std::shared_ptr<const Fields> files_;
  std::shared_ptr<const Fields> unknownKind_;
};

// ---- The file ----

const char* checkPracticeId(std::string_view s) {
  return !s.empty() && s.size() <= 64 ? nullptr : "expected a practice id of 1 to 64 characters";
}

// Every destination read, including those with problems of their own, so
// that routes naming them are not also reported (the file is refused anyway).
// Ids are unique.
bind::FunctionField<Destinations>::Reader destinationsReader(DestinationCodec codec) {
  return [codec = std::move(codec)](bind::Reading& r, const Json& v, const bind::Path& p,
                                    Destinations* out) {
    if (!v.isArray()) return r.wrongType(v, p, "a list"), false;
    const std::size_t before = r.errorCount();
    for (std::size_t i = 0; i < v.items().size(); ++i) {
      const Json& item = v.items()[i];
      DestinationProfile d;
      const bind::Path at = p.item(i);
      codec.read(r, item, at, &d);
      if (d.id.empty()) continue;  // reported
      if (out->find(d.id) != nullptr) {
        r.duplicate(*item.find("id"), at.member("id"), d.id);
        continue;
      }
      out->destinations.push_back(std::move(d));
    }
    return r.errorCount() == before;
  };
}

// {"PRACTICE_ID": ["DESTINATION_ID", ...]}: each practice's list non-empty,
// each destination once and defined in "destinations" (read before routes,
// whatever the order in the file).
bool readRoutes(bind::Reading& r, const Json& v, const bind::Path& p, Destinations* out) {
  const bind::Map<bind::List<bind::Text>> shape{.value = {.minItems = 1, .unique = true},
                                                .key = checkPracticeId};
  std::map<std::string, std::vector<std::string>> routes;
  bool ok = shape.read(r, v, p, &routes);
  out->routes.insert(routes.begin(), routes.end());
  if (!v.isObject()) return false;
  std::vector<std::string_view> ids;
  for (const DestinationProfile& d : out->destinations) ids.push_back(d.id);
  for (const auto& [practice, list] : v.members()) {
    if (!list.isArray()) continue;
    const bind::Path at = p.member(practice);
    for (std::size_t i = 0; i < list.items().size(); ++i) {
      const Json& id = list.items()[i];
      if (!id.isString() || id.text().empty() || out->find(id.text()) != nullptr) continue;
      const auto first = std::find(list.items().begin(), list.items().end(), id);
      if (first != list.items().begin() + static_cast<std::ptrdiff_t>(i)) continue;  // repeated
      ok = false;
      if (ids.empty()) {
        r.invalid(id, at.item(i), "expected the id of a destination (the file defines none)");
      } else {
        r.notOneOf(id, at.item(i), ids);
      }
    }
  }
  return ok;
}

Json writeRoutes(const Destinations& ds) {
  Json routes = Json::object();
  for (const auto& [practice, ids] : ds.routes) {
    routes.set(practice, bind::List<bind::Text>{}.write(ids));
  }
  return routes;
}

// A destination no route names receives nothing; a file without routes
// leaves every record unroutable: both are warnings.
void warnUnrouted(bind::Reading& r, const Json& object, const bind::Path& p, Destinations* ds) {
  const Json* list = object.find("destinations");
  const bind::Path listPath = p.member("destinations");
  for (std::size_t i = 0; list != nullptr && i < ds->destinations.size(); ++i) {
    const std::string& id = ds->destinations[i].id;
    const bool routed = std::any_of(ds->routes.begin(), ds->routes.end(), [&](const auto& route) {
      return std::find(route.second.begin(), route.second.end(), id) != route.second.end();
    });
    if (!routed) {
      r.warning("value", list->items()[i], listPath.item(i),
                "destination \"" + id + "\" is named by no route: it receives nothing");
    }
  }
  if (ds->routes.empty())
    r.warning("value", object, p, "no routes: every record is stored as unroutable");
}

bind::Fields<Destinations> fileFields(const std::string& baseDir, const SecretProbe* probe) {
  const DestinationCodec destination(baseDir, probe);
  return bind::Fields<Destinations>(
      {
          bind::computedField<Destinations>("destinations", bind::kOptional,
                                            destinationsReader(destination),
                                            [destination](const Destinations& ds, Json* object) {
                                              Json list = Json::array();
                                              for (const DestinationProfile& d : ds.destinations)
                                                list.push(destination.write(d));
                                              object->set("destinations", std::move(list));
                                            }),
          bind::computedField<Destinations>(
              "routes", bind::kOptional, readRoutes,
              [](const Destinations& ds, Json* object) { object->set("routes", writeRoutes(ds)); }),
      },
      warnUnrouted);
}

std::string routeIdPart(std::string_view practiceId) {
  if (practiceId == mappings::kAnyPractice) return "any";
  std::string out;
  for (char c : practiceId) {
    out += config_fields::checkId(std::string_view(&c, 1)) == nullptr ? c : '_';
  }
  return out;
}

}  // namespace

Json writeDestinationsConfig(const Destinations& destinations) {
  return bind::writeObject(destinations, fileFields("", nullptr));
}

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
  bind::Reading reading(&out.issues, fileName, text);
  Destinations config;
  bind::readObject(reading, *doc, bind::Path(), fileFields(baseDir, probe), &config);
  if (fhir::hasErrors(out.issues)) return out;
  for (const DestinationProfile& d : config.destinations) {
    if (!d.tls.verify) out.insecure.push_back(d.id);
    if (plainHttpHost(d)) out.plainHttp.push_back(d.id);
  }
  out.config = std::move(config);
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
    const std::optional<config_fields::UrlParts> parts =
        config_fields::parseHttpUrl(url, false, &why);
    if (!parts) return bad("URL \"" + std::string(url) + "\" " + why);
    if (parts->scheme == "http" && !isLoopbackHost(parts->host)) {
      return bad("plain http to " + parts->host +
                 " would carry patient data unencrypted; use https (or a destinations file "
                 "whose destination sets \"allowPlainHttpPhi\")");
    }
    d.endpoint = config_fields::withoutTrailingSlashes(std::string(url));
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

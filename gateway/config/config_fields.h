#pragma once

// Codecs (fhir/binding.h) shared by the configuration files, daemon.json and
// destinations.json, so that a path, a secret reference, an http URL or an id
// reads the same way, with the same words, in both.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/binding.h"
#include "mappings/shaping/destination.h"

namespace inloop::gateway {

// How the loaders check that referenced files and variables exist; injected
// so tests need neither real files nor environment variables. A missing one is
// a warning (it may appear before it is used), never an error.
struct SecretProbe {
  std::function<bool(const std::string& path)> fileReadable;
  std::function<bool(const std::string& name)> envSet;
};

// Checks the real file system and environment.
SecretProbe systemSecretProbe();

namespace config_fields {

// A file name, relative to `baseDir` (the config file's folder) unless
// absolute; with a probe, a warning when the file is not readable now.
struct FileName {
  std::string baseDir;
  const SecretProbe* probe = nullptr;

  bool read(fhir::bind::Reading& r, const fhir::Json& v, const fhir::bind::Path& p,
            std::string* out) const;
  fhir::Json write(const std::string& s) const { return fhir::Json::string(s); }
};

// {"file": PATH} or {"env": VARIABLE}; never the secret itself.
struct Secret {
  std::string baseDir;
  const SecretProbe* probe = nullptr;

  bool read(fhir::bind::Reading& r, const fhir::Json& v, const fhir::bind::Path& p,
            mappings::SecretRef* out) const;
  fhir::Json write(const mappings::SecretRef& s) const;
};

// "http(s)://host[:port][/path]" without credentials, spaces or control
// characters; without a query or fragment unless `allowQuery`. Trailing
// slashes are dropped.
struct HttpUrl {
  bool allowQuery = false;

  bool read(fhir::bind::Reading& r, const fhir::Json& v, const fhir::bind::Path& p,
            std::string* out) const;
  fhir::Json write(const std::string& s) const { return fhir::Json::string(s); }
};

// The scheme and host of an http(s) URL as HttpUrl accepts it; nullopt and
// `why` otherwise.
struct UrlParts {
  std::string scheme;
  std::string host;
};
std::optional<UrlParts> parseHttpUrl(std::string_view url, bool allowQuery, std::string* why);
// `url` without trailing slashes after its host ("https://x/fhir/" -> "https://x/fhir").
std::string withoutTrailingSlashes(std::string url);

// {"Header-Name": value, ...} read in file order into a list of V (a struct
// with `name` and `value`), each value read and written by `codec`. A name
// must be an HTTP header name; `refusal` (may be null) then says why a valid
// name is not allowed (nullptr: allowed), reported as a security issue.
template <typename V, typename C>
fhir::bind::Custom<std::vector<V>> headerMap(const char* (*refusal)(std::string_view name),
                                             C codec);

// Text checks for bind::Text::check (nullptr when fine).
// An id named in logs, metrics and URLs: 1-64 of A-Z a-z 0-9 . _ -
const char* checkId(std::string_view s);
// An environment variable name: [A-Za-z_][A-Za-z0-9_]*
const char* checkEnvName(std::string_view s);
// An HTTP header name (an RFC 9110 token).
const char* checkHeaderName(std::string_view s);
// A header value: no control characters but tab.
const char* checkHeaderValue(std::string_view s);

template <typename V, typename C>
fhir::bind::Custom<std::vector<V>> headerMap(const char* (*refusal)(std::string_view name),
                                             C codec) {
  namespace bind = fhir::bind;
  return bind::Custom<std::vector<V>>{
      [=](bind::Reading& r, const fhir::Json& v, const bind::Path& p, std::vector<V>* out) {
        if (!v.isObject()) return r.wrongType(v, p, "an object of header name -> value"), false;
        bool ok = true;
        for (const auto& [name, value] : v.members()) {
          const bind::Path at = p.member(name);
          if (const char* why = checkHeaderName(name)) {
            r.error("value", value, at, why);
            ok = false;
            continue;
          }
          if (const char* why = refusal != nullptr ? refusal(name) : nullptr) {
            r.error("security", value, at, why);
            ok = false;
            continue;
          }
          V one{name, {}};
          if (codec.read(r, value, at, &one.value)) {
            out->push_back(std::move(one));
          } else {
            ok = false;
          }
        }
        return ok;
      },
      [=](const std::vector<V>& headers) {
        fhir::Json o = fhir::Json::object();
        for (const V& h : headers) o.set(h.name, codec.write(h.value));
        return o;
      }};
}

}  // namespace config_fields
}  // namespace inloop::gateway

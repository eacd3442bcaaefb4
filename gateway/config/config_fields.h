#pragma once

// Codecs (fhir/binding.h) shared by the configuration files, daemon.json and
// destinations.json, so that a path, a secret reference, an http URL or an id
// reads the same way, with the same words, in both.

#include <functional>
#include <string>
#include <string_view>

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

// Text checks for bind::Text::check (nullptr when fine).
// An id named in logs, metrics and URLs: 1-64 of A-Z a-z 0-9 . _ -
const char* checkId(std::string_view s);
// An environment variable name: [A-Za-z_][A-Za-z0-9_]*
const char* checkEnvName(std::string_view s);
// An HTTP header name (an RFC 9110 token).
const char* checkHeaderName(std::string_view s);
// A header value: no control characters but tab.
const char* checkHeaderValue(std::string_view s);

}  // namespace config_fields
}  // namespace inloop::gateway

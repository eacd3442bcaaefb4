#include "gateway/config/config_fields.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace inloop::gateway {

SecretProbe systemSecretProbe() {
  SecretProbe p;
  p.fileReadable = [](const std::string& path) { return ::access(path.c_str(), R_OK) == 0; };
  p.envSet = [](const std::string& name) { return std::getenv(name.c_str()) != nullptr; };
  return p;
}

namespace config_fields {

namespace bind = fhir::bind;
using fhir::Json;

namespace {

std::string resolved(const std::string& name, const std::string& baseDir) {
  std::filesystem::path p(name);
  if (p.is_relative() && !baseDir.empty()) {
    return (std::filesystem::path(baseDir) / p).lexically_normal().string();
  }
  return name;
}

}  // namespace

bool FileName::read(bind::Reading& r, const Json& v, const bind::Path& p, std::string* out) const {
  std::string name;
  if (!bind::Text{}.read(r, v, p, &name)) return false;
  *out = resolved(name, baseDir);
  if (probe != nullptr && probe->fileReadable && !probe->fileReadable(*out)) {
    r.warning("not-found", v, p, "file " + *out + " is not readable (yet); this fails until it is");
  }
  return true;
}

bool Secret::read(bind::Reading& r, const Json& v, const bind::Path& p,
                  mappings::SecretRef* out) const {
  if (v.isString()) {
    r.error("security", v, p,
            "secrets are never written in this file; give {\"file\": PATH} or {\"env\": VARIABLE}");
    return false;
  }
  if (!v.isObject()) return r.wrongType(v, p, "{\"file\": PATH} or {\"env\": VARIABLE}"), false;
  static constexpr std::string_view kSources[] = {"file", "env"};
  if (v.size() != 1) {
    r.error("structure", v, p, "expected exactly one of \"file\" or \"env\"");
    return false;
  }
  const auto& [key, value] = v.members().front();
  const bind::Path at = p.member(key);
  if (key == "file") {
    if (!bind::Text{}.read(r, value, at, &out->name)) return false;
    out->name = resolved(out->name, baseDir);
    out->source = mappings::SecretSource::kFile;
    if (probe != nullptr && probe->fileReadable && !probe->fileReadable(out->name)) {
      r.warning("not-found", value, at,
                "secret file " + out->name + " is not readable (yet); this fails until it is");
    }
    return true;
  }
  if (key == "env") {
    if (!bind::Text{.check = checkEnvName}.read(r, value, at, &out->name)) return false;
    out->source = mappings::SecretSource::kEnv;
    if (probe != nullptr && probe->envSet && !probe->envSet(out->name)) {
      r.warning("not-found", value, at,
                "environment variable " + out->name + " is not set; this fails until it is");
    }
    return true;
  }
  r.unknownField(value, at, kSources);
  return false;
}

Json Secret::write(const mappings::SecretRef& s) const {
  Json o = Json::object();
  if (s.source == mappings::SecretSource::kFile) o.set("file", Json::string(s.name));
  if (s.source == mappings::SecretSource::kEnv) o.set("env", Json::string(s.name));
  return o;
}

std::optional<UrlParts> parseHttpUrl(std::string_view url, bool allowQuery, std::string* why) {
  UrlParts parts;
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    parts.scheme = "https";
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    parts.scheme = "http";
    rest = url.substr(7);
  } else {
    *why = "must start with http:// or https://";
    return std::nullopt;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      *why = "must not contain spaces or control characters";
      return std::nullopt;
    }
  }
  if (!allowQuery && url.find_first_of("?#") != std::string_view::npos) {
    *why = "must not have a query or fragment";
    return std::nullopt;
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    *why = "must not carry credentials (use \"auth\" or a secret)";
    return std::nullopt;
  }
  if (authority.empty() || authority[0] == ':') {
    *why = "has no host";
    return std::nullopt;
  }
  if (authority[0] == '[') {
    parts.host = std::string(authority.substr(0, authority.find(']') + 1));
  } else {
    parts.host = std::string(authority.substr(0, authority.find(':')));
  }
  return parts;
}

bool HttpUrl::read(bind::Reading& r, const Json& v, const bind::Path& p, std::string* out) const {
  std::string url;
  if (!bind::Text{}.read(r, v, p, &url)) return false;
  std::string why;
  if (!parseHttpUrl(url, allowQuery, &why)) {
    r.error("value", v, p, "the URL \"" + url + "\" " + why);
    return false;
  }
  *out = withoutTrailingSlashes(std::move(url));
  return true;
}

std::string withoutTrailingSlashes(std::string url) {
  while (url.size() > 1 && url.back() == '/' && url.find("://") + 3 < url.size() - 1) {
    url.pop_back();
  }
  return url;
}

const char* checkId(std::string_view s) {
  const bool ok = !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  return ok ? nullptr : "expected 1 to 64 of A-Z a-z 0-9 . _ -";
}

const char* checkEnvName(std::string_view s) {
  const bool ok =
      !s.empty() && !(s[0] >= '0' && s[0] <= '9') && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_';
      });
  return ok ? nullptr : "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
}

const char* checkHeaderName(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  const bool ok = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           kSpecials.find(c) != std::string_view::npos;
  });
  return ok ? nullptr : "expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)";
}

const char* checkHeaderValue(std::string_view s) {
  const bool ok = std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
  return ok ? nullptr : "expected a header value without control characters";
}

}  // namespace config_fields
}  // namespace inloop::gateway

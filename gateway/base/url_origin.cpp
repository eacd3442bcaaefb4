#include "gateway/base/url_origin.h"

#include <algorithm>

namespace inloop::gateway {

std::string UrlOrigin::toString() const {
  return scheme + "://" + host + ":" + std::to_string(port);
}

std::optional<UrlOrigin> originOf(std::string_view url) {
  UrlOrigin o;
  std::string_view rest;
  if (url.starts_with("https://")) {
    o.scheme = "https";
    o.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    o.scheme = "http";
    o.port = 80;
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    o.port = static_cast<std::uint16_t>(value);
  }
  o.host.assign(host);
  std::transform(o.host.begin(), o.host.end(), o.host.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return o;
}

bool isLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.starts_with("127.") &&
         host.find_first_not_of("0123456789.") == std::string_view::npos;
}

const char* credentialUrlProblem(std::string_view url, std::string_view endpoint) {
  const std::optional<UrlOrigin> to = originOf(url);
  if (!to) return "not an http(s) URL with a host";
  if (to->scheme == "https") return nullptr;
  const std::optional<UrlOrigin> from = originOf(endpoint);
  if (isLoopbackHost(to->host) && from && from->scheme == "http" && isLoopbackHost(from->host)) {
    return nullptr;
  }
  return "plain http: credentials travel over https only (plain http only to a loopback host "
         "when the destination itself is loopback http)";
}

}  // namespace inloop::gateway

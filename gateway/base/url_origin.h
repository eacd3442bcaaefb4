#pragma once

// Where credentials and patient data may travel (docs/security.md): the origin
// (scheme, host, port) of an http(s) URL, loopback hosts, and the rule for
// sending a credential (a signed client assertion, an access token) to a URL.
// Pure string functions: no DNS, no I/O; thread safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace inloop::gateway {

struct UrlOrigin {
  std::string scheme;      // "http" or "https"
  std::string host;        // lower case; an IPv6 literal keeps its brackets ("[::1]")
  std::uint16_t port = 0;  // the default (80, 443) when the URL names none

  bool operator==(const UrlOrigin&) const = default;
  // "https://host:port".
  std::string toString() const;
};

// The origin of `url`, or nullopt unless it starts with http:// or https://
// and names a host (and no user info) with a valid port.
std::optional<UrlOrigin> originOf(std::string_view url);

// "localhost", 127.0.0.0/8 written as dotted digits, "::1" or "[::1]". By name
// only: a host name that resolves to a loopback address does not count.
bool isLoopbackHost(std::string_view host);

// Why a credential may not be sent to `url` on behalf of a destination whose
// endpoint is `endpoint`, or nullptr when it may: `url` is https, or plain
// http to a loopback host while the endpoint itself is loopback http (tests,
// a local proxy).
const char* credentialUrlProblem(std::string_view url, std::string_view endpoint);

}  // namespace inloop::gateway

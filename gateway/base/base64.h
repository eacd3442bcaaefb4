#pragma once

// Base64 (RFC 4648): the standard alphabet with padding (HTTP basic
// credentials, payload encryption keys and blobs) and the URL alphabet without
// padding (JWS). Pure functions; thread safe.

#include <optional>
#include <string>
#include <string_view>

namespace inloop::gateway {

// RFC 4648 section 5 alphabet, no padding.
std::string base64UrlEncode(std::string_view bytes);
// Standard alphabet with padding.
std::string base64Encode(std::string_view bytes);
// Strict inverse of base64Encode: the standard alphabet, length a multiple of 4,
// padding only at the end, no whitespace, unused bits zero. nullopt otherwise.
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace inloop::gateway

// XHTML escaping of narrative text at every length and position: the escaper
// skips plain text 16 and 8 bytes at a time, so a special byte must be found
// wherever it falls.
#include <catch2/catch.hpp>
#include <string>

#include "mappings/forward/narrative.h"

namespace {

// One byte at a time, as mappings/forward/narrative.h specifies it.
std::string referenceEscaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("narrative text is XHTML-escaped at every length and position", "[mappings]") {
  const std::string specials[] = {
      "&", "<", ">", "\"", "'", "\t", "\n", std::string(1, '\x01'), "\xC3\xA9"};
  for (std::size_t length = 0; length <= 40; ++length) {
    const std::string plain(length, 'x');
    CHECK(inloop::mappings::escapeXhtml(plain) == plain);
    for (std::size_t at = 0; at < length; ++at) {
      for (const std::string& special : specials) {
        std::string s = plain;
        s.replace(at, 1, special);
        CAPTURE(length, at, s);
        CHECK(inloop::mappings::escapeXhtml(s) == referenceEscaped(s));
        std::string appended = "<p>";
        inloop::mappings::appendXhtmlEscaped(s, &appended);
        CHECK(appended == "<p>" + referenceEscaped(s));
      }
    }
  }
}

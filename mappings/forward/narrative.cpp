#include "mappings/forward/narrative.h"

#include <cstdint>
#include <cstring>
#include <utility>

#include "fhir/swar.h"

namespace inloop::mappings {

namespace {

// Non-zero if some byte of `w` is a control character or an XHTML special.
std::uint64_t xhtmlSpecials(std::uint64_t w) {
  return fhir::swar::bytesBelow<0x20>(w) | fhir::swar::bytesEqual<'&'>(w) |
         fhir::swar::bytesEqual<'<'>(w) | fhir::swar::bytesEqual<'>'>(w) |
         fhir::swar::bytesEqual<'"'>(w) | fhir::swar::bytesEqual<'\''>(w);
}

// True if no byte of `text` needs rewriting (nor tab/CR/LF, which are kept
// but take the careful path).
bool isPlainXhtml(std::string_view text) {
  std::size_t i = 0;
  for (; i + 16 <= text.size(); i += 16) {
    const fhir::swar::Vec16 v = fhir::swar::loadVec16(text.data() + i);
    if (fhir::swar::anyLane((v < 0x20) | (v == '&') | (v == '<') | (v == '>') | (v == '"') |
                            (v == '\''))) {
      return false;
    }
  }
  for (; i + 8 <= text.size(); i += 8) {
    if (xhtmlSpecials(fhir::swar::loadWord(text.data() + i)) != 0) return false;
  }
  if (i == text.size()) return true;
  // The last 0-7 bytes, padded with a plain byte.
  std::uint64_t w = fhir::swar::kOnes * 'a';
  std::memcpy(&w, text.data() + i, text.size() - i);
  return xhtmlSpecials(w) == 0;
}

}  // namespace

void appendXhtmlEscaped(std::string_view text, std::string* out) {
  if (isPlainXhtml(text)) {
    out->append(text);
    return;
  }
  // Copies runs of plain characters at once; only the specials are rewritten.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Eight plain bytes at a time (no special, no control character).
    while (i + 8 <= text.size()) {
      if (xhtmlSpecials(fhir::swar::loadWord(text.data() + i)) != 0) break;
      i += 8;
    }
    if (i >= text.size()) break;
    const char ch = text[i];
    const char* replacement = nullptr;
    switch (ch) {
      case '&':
        replacement = "&amp;";
        break;
      case '<':
        replacement = "&lt;";
        break;
      case '>':
        replacement = "&gt;";
        break;
      case '"':
        replacement = "&quot;";
        break;
      case '\'':
        replacement = "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
          replacement = "\xEF\xBF\xBD";
        }
    }
    if (replacement == nullptr) continue;
    out->append(text.data() + run, i - run);
    out->append(replacement);
    run = i + 1;
  }
  out->append(text.data() + run, text.size() - run);
}

std::string escapeXhtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  appendXhtmlEscaped(text, &out);
  return out;
}

NarrativeBuilder::NarrativeBuilder(std::string_view heading) {
  // The rows are written straight after the heading (they come first): a
  // narrative is a few hundred bytes, one allocation, no regrowth, no copy.
  head_.reserve(512 + heading.size());
  head_ = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>";
  appendXhtmlEscaped(heading, &head_);
  head_ += "</b></p>";
}

NarrativeBuilder& NarrativeBuilder::row(std::string_view label, std::string_view value) {
  if (value.empty()) return *this;
  if (!hasRows_) head_ += "<table>";
  hasRows_ = true;
  head_ += "<tr><th>";
  appendXhtmlEscaped(label, &head_);
  head_ += "</th><td>";
  appendXhtmlEscaped(value, &head_);
  head_ += "</td></tr>";
  return *this;
}

NarrativeBuilder& NarrativeBuilder::paragraph(std::string_view label, std::string_view text) {
  if (text.empty()) return *this;
  paragraphs_ += "<p>";
  if (!label.empty()) {
    appendXhtmlEscaped(label, &paragraphs_);
    paragraphs_ += ": ";
  }
  appendXhtmlEscaped(text, &paragraphs_);
  paragraphs_ += "</p>";
  return *this;
}

std::string NarrativeBuilder::finish() {
  std::string out = std::move(head_);
  if (hasRows_) out += "</table>";
  out += paragraphs_;
  out += "</div>";
  return out;
}

}  // namespace inloop::mappings

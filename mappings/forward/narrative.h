#pragma once

// XHTML narrative (Resource.text) for the resources the translator produces.
//
// The narrative is what a physician reads when the receiving EHR shows the
// resource as a document: a heading, then label/value rows in a table, then
// free-text paragraphs. Every value is escaped (& < > " '), so record text can
// never inject markup; the result satisfies FHIR txt-1/txt-2 (basic HTML only,
// non-empty) and starts with <div xmlns="http://www.w3.org/1999/xhtml">.
//
// Pure; a NarrativeBuilder is a plain value (not shared between threads).

#include <string>
#include <string_view>

namespace inloop::mappings {

// Appends `text` to `out` with the XML special characters escaped (&amp; &lt;
// &gt; &quot; &#39;). Control characters other than tab/newline/carriage return
// (not allowed in XML 1.0) are replaced by U+FFFD.
void appendXhtmlEscaped(std::string_view text, std::string* out);

// `text` escaped (see appendXhtmlEscaped).
std::string escapeXhtml(std::string_view text);

// Builds one narrative div:
//   <div xmlns="http://www.w3.org/1999/xhtml"><p><b>HEADING</b></p>
//   <table><tr><th>LABEL</th><td>VALUE</td></tr>...</table><p>PARAGRAPH</p>...</div>
// Rows always come before paragraphs, whatever the call order.
class NarrativeBuilder {
 public:
  explicit NarrativeBuilder(std::string_view heading);

  // Adds a label/value row; a row with an empty value is skipped.
  NarrativeBuilder& row(std::string_view label, std::string_view value);
  // Adds a paragraph, "label: text" when a label is given; skipped when empty.
  NarrativeBuilder& paragraph(std::string_view label, std::string_view text);

  // The finished div. The builder may not be used afterwards.
  std::string finish();

 private:
  std::string head_;  // the div's start, the heading, then the rows
  bool hasRows_ = false;
  std::string paragraphs_;
};

}  // namespace inloop::mappings

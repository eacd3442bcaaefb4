#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mappings/conventions.h"
#include "mappings/forward/translate.h"
#include "mappings/forward/translate_internal.h"

namespace inloop::mappings {

namespace {

// SHA-1 (FIPS 180-4), used only for RFC 4122 name-based UUIDs: the ids must be
// stable and well distributed, not secret.
class Sha1 {
 public:
  void update(const unsigned char* data, std::size_t size) {
    length_ += size;
    while (size > 0) {
      std::size_t take = std::min<std::size_t>(64 - used_, size);
      std::memcpy(block_.data() + used_, data, take);
      used_ += take;
      data += take;
      size -= take;
      if (used_ == 64) {
        compress();
        used_ = 0;
      }
    }
  }

  std::array<unsigned char, 20> finish() {
    std::uint64_t bits = length_ * 8;
    block_[used_++] = 0x80;
    if (used_ > 56) {
      std::memset(block_.data() + used_, 0, 64 - used_);
      compress();
      used_ = 0;
    }
    std::memset(block_.data() + used_, 0, 56 - used_);
    for (int i = 0; i < 8; ++i) block_[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    compress();
    std::array<unsigned char, 20> out{};
    for (int i = 0; i < 5; ++i) {
      for (int j = 0; j < 4; ++j)
        out[4 * i + j] = static_cast<unsigned char>(h_[i] >> (24 - 8 * j));
    }
    return out;
  }

 private:
  static std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

  // One 64-byte block. The four 20-round groups are separate, unrolled loops
  // (no per-round branch); this runs a few times per translated record.
  void compress() {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{block_[4 * i]} << 24) | (std::uint32_t{block_[4 * i + 1]} << 16) |
             (std::uint32_t{block_[4 * i + 2]} << 8) | std::uint32_t{block_[4 * i + 3]};
    }
#pragma GCC unroll 16
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
    auto round = [&](std::uint32_t f, std::uint32_t k, std::uint32_t wi) {
      const std::uint32_t t = rotl(a, 5) + f + e + k + wi;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    };
#pragma GCC unroll 20
    for (int i = 0; i < 20; ++i) round((b & c) | (~b & d), 0x5A827999, w[i]);
#pragma GCC unroll 20
    for (int i = 20; i < 40; ++i) round(b ^ c ^ d, 0x6ED9EBA1, w[i]);
#pragma GCC unroll 20
    for (int i = 40; i < 60; ++i) round((b & c) | (b & d) | (c & d), 0x8F1BBCDC, w[i]);
#pragma GCC unroll 20
    for (int i = 60; i < 80; ++i) round(b ^ c ^ d, 0xCA62C1D6, w[i]);
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
  }

  std::array<std::uint32_t, 5> h_ = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::array<unsigned char, 64> block_{};
  std::size_t used_ = 0;
  std::uint64_t length_ = 0;
};

// RFC 4122 Appendix C: NameSpace_URL 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
constexpr unsigned char kUrlNamespace[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                             0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

// Bytes a query value keeps as they are (RFC 3986 unreserved plus ':', '/', '@').
constexpr std::array<bool, 256> kKeptInQuery = [] {
  std::array<bool, 256> kept{};
  for (int c = 0; c < 256; ++c) {
    kept[static_cast<std::size_t>(c)] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                        (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                                        c == '_' || c == '~' || c == ':' || c == '/' || c == '@';
  }
  return kept;
}();

// Percent-encodes `c` at `d` (kept bytes as they are); returns the end.
char* queryEncodedInto(unsigned char c, char* d) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (kKeptInQuery[c]) {
    *d++ = static_cast<char>(c);
    return d;
  }
  *d++ = '%';
  *d++ = kHex[c >> 4];
  *d++ = kHex[c & 0xF];
  return d;
}

}  // namespace

std::string nameBasedUuid(std::string_view name) {
  Sha1 sha;
  sha.update(kUrlNamespace, sizeof kUrlNamespace);
  sha.update(reinterpret_cast<const unsigned char*>(name.data()), name.size());
  std::array<unsigned char, 20> h = sha.finish();
  h[6] = static_cast<unsigned char>((h[6] & 0x0F) | 0x50);  // version 5
  h[8] = static_cast<unsigned char>((h[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  char text[36];
  char* d = text;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *d++ = '-';
    *d++ = kHex[h[i] >> 4];
    *d++ = kHex[h[i] & 0xF];
  }
  return std::string(text, sizeof text);
}

std::string tokenQuery(std::string_view system, std::string_view value) {
  // The token's own escapes (\ before \ | , $) and the percent-encoding in one
  // pass; at most 3 bytes per system byte and 6 per value byte.
  std::string out(system.size() * 3 + 3 + value.size() * 6, '\0');
  char* const begin = out.data();
  char* d = begin;
  for (char c : system) d = queryEncodedInto(static_cast<unsigned char>(c), d);
  std::memcpy(d, "%7C", 3);
  d += 3;
  for (char c : value) {
    if (c == '\\' || c == '|' || c == ',' || c == '$') d = queryEncodedInto('\\', d);
    d = queryEncodedInto(static_cast<unsigned char>(c), d);
  }
  out.resize(static_cast<std::size_t>(d - begin));
  return out;
}

namespace translate_detail {

Json identifier(std::string_view system, std::string_view value) {
  Json o = Json::object();
  add(o, "system", str(system));
  add(o, "value", str(value));
  return o;
}

Json coding(std::string_view system, std::string_view code, std::string_view display) {
  Json o = Json::object();
  add(o, "system", str(system));
  add(o, "code", str(code));
  if (!display.empty()) add(o, "display", str(display));
  return o;
}

Json codeableConcept(Json codingValue, std::string_view text) {
  Json o = Json::object();
  add(o, "coding", array1(std::move(codingValue)));
  if (!text.empty()) add(o, "text", str(text));
  return o;
}

Json textConcept(std::string_view text) {
  Json o = Json::object();
  add(o, "text", str(text));
  return o;
}

Json extension(const Context& ctx, std::string_view name, std::string_view valueKey, Json value) {
  Json o = Json::object();
  add(o, "url", Json::string(extensionUrl(ctx.tables.namespaces, name)));
  add(o, valueKey, std::move(value));
  return o;
}

Json subExtension(std::string_view name, std::string_view valueKey, Json value) {
  Json o = Json::object();
  add(o, "url", str(name));
  add(o, valueKey, std::move(value));
  return o;
}

Json quantity(std::string_view valueText, const Unit& unit, std::string_view comparator) {
  Json o = Json::object();
  add(o, "value", Json::numberText(std::string(valueText)));
  if (!comparator.empty()) add(o, "comparator", str(comparator));
  add(o, "unit", str(unit.display.empty() ? unit.ucum : unit.display));
  add(o, "system", str(kUcumSystem));
  add(o, "code", str(unit.ucum));
  return o;
}

Json versionExtension(const Context& ctx) {
  return extension(ctx, kExtRecordVersion, "valuePositiveInt",
                   Json::number(static_cast<std::int64_t>(ctx.record.version)));
}

Json meta(const Context& ctx) {
  Json o = Json::object();
  add(o, "source", str(ctx.tables.namespaces.source));
  return o;
}

Json narrativeText(std::string div) {
  Json o = Json::object();
  add(o, "status", str("generated"));
  add(o, "div", Json::string(std::move(div)));
  return o;
}

Json clinicianReference(const Clinician& c) {
  Json o = Json::object();
  add(o, "type", str("Practitioner"));
  if (c.npi && !c.npi->empty()) add(o, "identifier", identifier(kNpiSystem, *c.npi));
  add(o, "display", str(c.name));
  return o;
}

void initSubject(Context& ctx) {
  const PlanRecord& record = ctx.record;
  if (record.patient.pcpPatientId && !record.patient.pcpPatientId->empty()) {
    ctx.subjectSystem = pcpPatientIdSystem(ctx.tables.namespaces, record.pcp.practiceId);
    ctx.subjectValue = *record.patient.pcpPatientId;
  } else {
    ctx.subjectSystem = ctx.tables.namespaces.mrn;
    ctx.subjectValue = record.patient.mrn;
  }
  ctx.subjectQuery = tokenQuery(ctx.subjectSystem, ctx.subjectValue);
}

Json subjectReference(const Context& ctx) {
  Json o = Json::object();
  std::string ref = "Patient?identifier=";
  ref += ctx.subjectQuery;
  add(o, "reference", Json::string(std::move(ref)));
  add(o, "type", str("Patient"));
  add(o, "identifier", identifier(ctx.subjectSystem, ctx.subjectValue));
  return o;
}

Json logicalReference(const Context& ctx, std::string_view type, std::string_view value) {
  Json o = Json::object();
  add(o, "type", str(type));
  add(o, "identifier", identifier(ctx.tables.namespaces.record, value));
  return o;
}

std::string fullUrlFor(std::string_view type, std::string_view system, std::string_view value) {
  std::string name(type);
  name += "?identifier=";
  name += system;
  name += '|';
  name += value;
  return "urn:uuid:" + nameBasedUuid(name);
}

void addEntry(Context& ctx, std::string_view type, std::string_view identifierValue,
              Json resource) {
  addEntry(ctx, type, identifierValue, std::move(resource),
           fullUrlFor(type, ctx.tables.namespaces.record, identifierValue));
}

void addEntry(Context& ctx, std::string_view type, std::string_view identifierValue, Json resource,
              std::string fullUrl) {
  const std::string& system = ctx.tables.namespaces.record;
  Json entry = Json::object();
  add(entry, "fullUrl", str(fullUrl));
  add(entry, "resource", std::move(resource));
  Json request = Json::object();
  add(request, "method", str("PUT"));
  std::string url(type);
  url += "?identifier=";
  url += tokenQuery(system, identifierValue);
  add(request, "url", Json::string(std::move(url)));
  add(entry, "request", std::move(request));
  ctx.entries.push_back(std::move(entry));
  ctx.targets.push_back(std::move(fullUrl));
}

std::optional<Measure> findMeasureOrError(Context& ctx, std::string_view code,
                                          const std::string& path) {
  std::optional<Measure> m = ctx.tables.findMeasure(code, ctx.record.pcp.practiceId);
  if (m) return m;
  // Disabled for this practice: still translate (routing decides what the
  // practice gets), without the practice's overrides.
  m = ctx.tables.findMeasure(code);
  if (m) return m;
  addError(&ctx.issues, "code-invalid", path,
           "unknown measure code \"" + std::string(code) + "\"; known: " +
               listOf(ctx.tables.measures, [](const Measure& x) { return x.code; }));
  return std::nullopt;
}

std::optional<MeasuredValue> measureValue(Context& ctx, const Measure& measure,
                                          std::string_view valueText, std::string_view unitName,
                                          const std::string& valuePath,
                                          const std::string& unitPath) {
  const MappingTables& t = ctx.tables;
  std::string_view from = unitName.empty() ? std::string_view(measure.unit) : unitName;
  const Unit* fromUnit = t.findUnit(from);
  if (fromUnit == nullptr) {
    addError(&ctx.issues, "code-invalid", unitPath,
             "unknown unit \"" + std::string(from) + "\"; the measure \"" + measure.code +
                 "\" takes: " + listOf(measure.units, [](const std::string& u) { return u; }));
    return std::nullopt;
  }
  const Unit* canonicalUnit = t.findUnit(measure.unit);
  if (canonicalUnit == nullptr || !t.canConvert(from, measure.unit, measure.code)) {
    addError(&ctx.issues, "code-invalid", unitPath,
             "unit \"" + std::string(from) + "\" cannot be converted to the measure's unit \"" +
                 measure.unit + "\" (measure \"" + measure.code + "\" takes: " +
                 listOf(measure.units, [](const std::string& u) { return u; }) + ")");
    return std::nullopt;
  }
  fhir::Result<std::string> canonical = t.convert(valueText, from, measure.unit, measure.code);
  if (!canonical.isOk()) {
    addError(&ctx.issues, "value", valuePath,
             "cannot convert " + std::string(valueText) + " " + std::string(from) + " to " +
                 measure.unit + ": " + canonical.status().message());
    return std::nullopt;
  }
  MeasuredValue out;
  out.canonical = std::move(canonical).value();
  out.canonicalValue = std::strtod(out.canonical.c_str(), nullptr);
  if (!measure.inRange(out.canonicalValue)) {
    std::string shown(valueText);
    shown += ' ';
    shown += from;
    if (from != measure.unit) shown += " (" + out.canonical + " " + measure.unit + ")";
    addError(&ctx.issues, "value", valuePath,
             "value " + shown + " is outside the valid range of \"" + measure.code + "\" (" +
                 measure.rangeText() + ")");
    return std::nullopt;
  }
  std::string_view send = measure.sendUnit.empty() ? std::string_view(measure.unit)
                                                   : std::string_view(measure.sendUnit);
  out.sentUnit = t.findUnit(send);
  if (out.sentUnit == nullptr || send == measure.unit) {
    out.sentUnit = canonicalUnit;
    out.sent = out.canonical;
    return out;
  }
  // A practice override: convert from what the clinic wrote when it is the
  // same unit, else from the canonical value.
  if (out.sentUnit->ucum == fromUnit->ucum) {
    out.sent = std::string(valueText);
    return out;
  }
  fhir::Result<std::string> sent = t.convert(out.canonical, measure.unit, send, measure.code);
  if (!sent.isOk()) {
    addError(&ctx.issues, "code-invalid", unitPath,
             "the practice's unit \"" + std::string(send) + "\" for \"" + measure.code +
                 "\" cannot be reached from \"" + measure.unit + "\"");
    return std::nullopt;
  }
  out.sent = std::move(sent).value();
  return out;
}

std::string_view roleWords(std::string_view role) {
  if (role == "physician") return "physician";
  if (role == "nurse-practitioner") return "nurse practitioner";
  if (role == "physical-therapist") return "physical therapist";
  if (role == "occupational-therapist") return "occupational therapist";
  if (role == "psychologist") return "psychologist";
  if (role == "pharmacist") return "pharmacist";
  if (role == "interventionalist") return "interventional pain physician";
  if (role == "nurse") return "nurse";
  if (role == "care-coordinator") return "care coordinator";
  return role;
}

std::string clinicianWords(const Clinician& c) {
  std::string s = c.name;
  std::string extra;
  if (c.role) extra += roleWords(toWire(*c.role));
  if (c.npi && !c.npi->empty()) {
    if (!extra.empty()) extra += ", ";
    extra += "NPI ";
    extra += *c.npi;
  }
  if (!extra.empty()) s += " (" + extra + ")";
  return s;
}

std::string quantityWords(std::string_view value, const Unit& unit) {
  std::string s(value);
  s += ' ';
  s += unit.display.empty() ? unit.ucum : unit.display;
  return s;
}

}  // namespace translate_detail

}  // namespace inloop::mappings

#include "mappings/forward/logical_id.h"

#include <cstdint>

#include "fhir/primitives.h"

namespace inloop::mappings {

namespace {

// Two independent 64-bit FNV-1a lanes: not cryptographic, only collision-resistant
// enough for ids that are also unique by business identifier at the receiver.
std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string logicalId(std::string_view prefix, std::string_view recordId, std::string_view partId) {
  std::string id(prefix);
  id += '-';
  id += recordId;
  if (!partId.empty()) {
    id += '-';
    id += partId;
  }
  if (fhir::isValidId(id)) return id;
  // The separator byte keeps ("a","bc") and ("ab","c") apart.
  std::string key(recordId);
  key += '\x1f';
  key += partId;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  out += "-h";
  for (std::uint64_t lane :
       {fnv1a(key, 0xcbf29ce484222325ULL), fnv1a(key, 0x84222325cbf29ce4ULL)}) {
    for (int shift = 60; shift >= 0; shift -= 4) out += kHex[(lane >> shift) & 0xF];
  }
  return out;
}

}  // namespace inloop::mappings

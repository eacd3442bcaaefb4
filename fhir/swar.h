#pragma once

// Word-at-a-time byte tests for the hot scanning loops (JSON escaping, FHIR
// primitive checks, XHTML escaping): eight bytes per step instead of one.
// Each mask is non-zero exactly when some byte of the word matches (exact as a
// yes/no answer for the whole word; which bit is set is not meaningful), so
// masks can be OR-ed and tested once. Implementation detail of fhir/ and
// mappings/; no state.

#include <cstdint>
#include <cstring>

namespace inloop::fhir::swar {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

// The eight bytes at `p` (any alignment).
inline std::uint64_t loadWord(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Non-zero if some byte of `w` is below N (N <= 0x80; bytes >= 0x80 never match).
template <unsigned N>
inline std::uint64_t bytesBelow(std::uint64_t w) {
  static_assert(N <= 0x80);
  return (w - kOnes * N) & ~w & kHigh;
}

// Non-zero if some byte of `w` equals B.
template <unsigned char B>
inline std::uint64_t bytesEqual(std::uint64_t w) {
  return bytesBelow<1>(w ^ (kOnes * B));
}

}  // namespace inloop::fhir::swar

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

// Sixteen bytes as one vector (GCC/Clang vector extension: one SSE2 register on
// x86-64, NEON on ARM), for the long strings (narratives, URLs).
using Vec16 = unsigned char __attribute__((vector_size(16)));

// The sixteen bytes at `p` (any alignment).
inline Vec16 loadVec16(const char* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// True if any lane of a vector comparison result (0 or all ones a lane) is set.
template <typename Mask>
inline bool anyLane(Mask m) {
  static_assert(sizeof(Mask) == 16);
  std::uint64_t lo;
  std::uint64_t hi;
  std::memcpy(&lo, &m, sizeof lo);
  std::memcpy(&hi, reinterpret_cast<const char*>(&m) + sizeof lo, sizeof hi);
  return (lo | hi) != 0;
}

}  // namespace inloop::fhir::swar

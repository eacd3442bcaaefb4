#include "fhir/primitives.h"

#include <cctype>
#include <cstdint>

#include "fhir/swar.h"

namespace inloop::fhir {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int num(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

bool isLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int daysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

struct Parsed {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int millis = 0;
  int offsetMinutes = 0;
  int precision = 0;  // 1 year, 2 month, 3 day, 4 time
};

// Parses the time part "hh:mm:ss[.f]" starting at pos; returns the end or npos.
std::size_t parseTime(std::string_view s, std::size_t pos, Parsed* p) {
  if (!digits(s, pos, 2) || pos + 2 >= s.size() || s[pos + 2] != ':' || !digits(s, pos + 3, 2) ||
      pos + 5 >= s.size() || s[pos + 5] != ':' || !digits(s, pos + 6, 2)) {
    return std::string_view::npos;
  }
  p->hour = num(s, pos, 2);
  p->minute = num(s, pos + 3, 2);
  p->second = num(s, pos + 6, 2);
  // 60 is a leap second, which FHIR's regex allows.
  if (p->hour > 23 || p->minute > 59 || p->second > 60) return std::string_view::npos;
  pos += 8;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    std::size_t n = pos - start;
    if (n == 0 || n > 9) return std::string_view::npos;
    int ms = 0;
    for (std::size_t i = 0; i < 3; ++i) ms = ms * 10 + (i < n ? s[start + i] - '0' : 0);
    p->millis = ms;
  }
  return pos;
}

std::size_t parseOffset(std::string_view s, std::size_t pos, Parsed* p) {
  if (pos >= s.size()) return std::string_view::npos;
  if (s[pos] == 'Z') return pos + 1;
  if (s[pos] != '+' && s[pos] != '-') return std::string_view::npos;
  if (!digits(s, pos + 1, 2) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
      !digits(s, pos + 4, 2)) {
    return std::string_view::npos;
  }
  int h = num(s, pos + 1, 2);
  int m = num(s, pos + 4, 2);
  if (m > 59 || h > 14 || (h == 14 && m != 0)) return std::string_view::npos;
  p->offsetMinutes = (s[pos] == '-' ? -1 : 1) * (h * 60 + m);
  return pos + 6;
}

// Parses a date of any precision at the start; returns its end or npos.
std::size_t parseDate(std::string_view s, Parsed* p) {
  if (!digits(s, 0, 4)) return std::string_view::npos;
  p->year = num(s, 0, 4);
  p->precision = 1;
  if (s.size() == 4 || s[4] != '-') return 4;
  if (!digits(s, 5, 2)) return std::string_view::npos;
  p->month = num(s, 5, 2);
  if (p->month < 1 || p->month > 12) return std::string_view::npos;
  p->precision = 2;
  if (s.size() == 7 || s[7] != '-') return 7;
  if (!digits(s, 8, 2)) return std::string_view::npos;
  p->day = num(s, 8, 2);
  if (p->day < 1 || p->day > daysInMonth(p->year, p->month)) return std::string_view::npos;
  p->precision = 3;
  return 10;
}

bool parseDateTime(std::string_view s, Parsed* p, bool requireTime) {
  std::size_t pos = parseDate(s, p);
  if (pos == std::string_view::npos) return false;
  if (pos == s.size()) return !requireTime;
  if (p->precision != 3 || s[pos] != 'T') return false;
  pos = parseTime(s, pos + 1, p);
  if (pos == std::string_view::npos) return false;
  pos = parseOffset(s, pos, p);
  p->precision = 4;
  return pos == s.size();
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
std::int64_t daysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(m + (m > 2 ? -3 : 9)) + 2) / 5 +
                       static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

bool isValidId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

bool isValidDate(std::string_view s) {
  Parsed p;
  return parseDate(s, &p) == s.size();
}

bool isValidFullDate(std::string_view s) {
  Parsed p;
  return parseDate(s, &p) == s.size() && p.precision == 3;
}

bool isValidDateTime(std::string_view s) {
  Parsed p;
  return parseDateTime(s, &p, false);
}

bool isValidInstant(std::string_view s) {
  Parsed p;
  return parseDateTime(s, &p, true);
}

bool isValidTime(std::string_view s) {
  Parsed p;
  return parseTime(s, 0, &p) == s.size();
}

bool isValidDecimal(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  } else {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    std::size_t start = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

bool isValidInteger(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0' && i + 1 != s.size()) return false;
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
    if (v > 2147483648LL) return false;
  }
  return s[0] == '-' ? v <= 2147483648LL : v <= 2147483647LL;
}

bool isValidUri(std::string_view s) {
  if (s.empty()) return false;
  // Eight bytes at a time while no byte is a space, a control or DEL; any word
  // that has one is rejected (the per-byte rule says the same).
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    const std::uint64_t w = swar::loadWord(s.data() + i);
    if ((swar::bytesBelow<0x21>(w) | swar::bytesEqual<0x7F>(w)) != 0) return false;
  }
  for (; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  return true;
}

bool isValidCode(std::string_view s) {
  if (s.empty()) return false;
  bool prevSpace = true;  // forbids a leading space
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
    bool space = c == ' ';
    if (space && prevSpace) return false;
    prevSpace = space;
  }
  return !prevSpace;
}

bool isValidString(std::string_view s) {
  bool content = false;
  std::size_t i = 0;
  while (i < s.size()) {
    // Once a non-whitespace byte was seen, a word with no byte below 0x20 (no
    // control, no tab/CR/LF) cannot change the answer: skip eight at a time.
    if (content && i + 8 <= s.size() &&
        swar::bytesBelow<0x20>(swar::loadWord(s.data() + i)) == 0) {
      i += 8;
      continue;
    }
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 && u != '\t' && u != '\r' && u != '\n') return false;
    // The C locale's isspace: space, \t, \n, \v, \f, \r.
    if (u != ' ' && (u < '\t' || u > '\r')) content = true;
    ++i;
  }
  return content;
}

std::optional<std::int64_t> toEpochMillis(std::string_view s) {
  Parsed p;
  if (!parseDateTime(s, &p, false) || p.precision < 3) return std::nullopt;
  std::int64_t days = daysFromCivil(p.year, p.month, p.day);
  std::int64_t secs = days * 86400 + p.hour * 3600 + p.minute * 60 + p.second -
                      static_cast<std::int64_t>(p.offsetMinutes) * 60;
  return secs * 1000 + p.millis;
}

}  // namespace inloop::fhir

#!/usr/bin/env bash
# ctest registers Catch2 test names through CMake lists, where ';' splits a name
# into two tests that match nothing. Refuse such names.
set -euo pipefail
cd "${INLOOP_ROOT:-$(dirname "$0")/../..}"
# The name may be split over several string literals and lines.
bad=$(find tests -name '*.cpp' -print0 | xargs -0 perl -0777 -ne \
  'while (/TEST_CASE\(\s*((?:"[^"]*"\s*)+)/g) { my $n = $1; print "$ARGV: $n\n" if $n =~ /;/ }' ||
  true)
if [ -n "$bad" ]; then
  echo "test names must not contain ';':"
  echo "$bad"
  echo "test-names: 0 passed, 1 failed"
  exit 1
fi
echo "test-names: 1 passed, 0 failed"

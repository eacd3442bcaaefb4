#!/usr/bin/env bash
# ctest registers Catch2 test names through CMake lists, where ';' splits a name
# into two tests that match nothing. Refuse such names.
set -euo pipefail
cd "${INLOOP_ROOT:-$(dirname "$0")/../..}"
bad=$(grep -rnE 'TEST_CASE\("[^"]*;' tests || true)
if [ -n "$bad" ]; then
  echo "test names must not contain ';':"
  echo "$bad"
  echo "test-names: 0 passed, 1 failed"
  exit 1
fi
echo "test-names: 1 passed, 0 failed"

#!/usr/bin/env bash
# The CMake files list their sources by name (no globs, so a stray file never
# slips into a build). The cost: a new file that nobody lists is never built,
# and a test file that is not listed never runs. This check fails on any .cpp
# under fhir/, mappings/, gateway/, tests/, bench/ or fuzz/ that the nearest
# CMakeLists.txt above it does not name.
set -euo pipefail
cd "${INLOOP_ROOT:-$(dirname "$0")/../..}"

missing=()
while IFS= read -r file; do
  dir=$(dirname "$file")
  while [ ! -f "$dir/CMakeLists.txt" ] && [ "$dir" != "." ]; do dir=$(dirname "$dir"); done
  rel=${file#"$dir"/}
  # The name stands alone on a line or after "(" / a space, and ends the token.
  if ! grep -Eq "(^|[[:space:](])${rel//./\\.}([[:space:])]|$)" "$dir/CMakeLists.txt"; then
    missing+=("$file: not listed in $dir/CMakeLists.txt")
  fi
done < <(find fhir mappings gateway tests bench fuzz -name '*.cpp' \
           -not -path 'tests/peers/*' -not -path 'tests/data/*' | sort)

if [ ${#missing[@]} -gt 0 ]; then
  printf '%s\n' "${missing[@]}"
  echo "sources-listed: 0 passed, 1 failed"
  exit 1
fi
echo "sources-listed: 1 passed, 0 failed"

#!/usr/bin/env bash
# Fuzz smoke run (issue 8, item 4): every libFuzzer target under fuzz/ for
# ~15 s on a copy of its committed seed corpus (scripts/fuzz builds them with
# clang in build-fuzz). Any crash, sanitizer report, leak, timeout or broken
# property fails the suite; scripts/fuzz prints "fuzz: N passed, M failed" and
# leaves the crashing inputs in build-fuzz/artifacts/<target>/.
#
# Env: INLOOP_ROOT the repository root (default: derived from this script's
# path); INLOOP_FUZZ_SECONDS seconds per target (default 15). INLOOP_BIN is not
# used: the fuzz build is separate.
set -euo pipefail

INLOOP_ROOT="${INLOOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
exec "$INLOOP_ROOT/scripts/fuzz" --seconds "${INLOOP_FUZZ_SECONDS:-15}"

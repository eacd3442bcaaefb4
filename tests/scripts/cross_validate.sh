#!/usr/bin/env bash
# Cross-checks `inloop validate` against two third-party FHIR validators from npm
# (@medplum/core validateResource and FHIR.js) over tests/data/fhir/corpus/{valid,invalid},
# then over the translator's golden Bundles (tests/data/golden), which must all be valid.
# Fails (exit 1, listing each file) when inloop misjudges a corpus file or disagrees with a
# peer on a file that tests/peers/known-differences.json does not list with a reason.
# Prints "cross-validate: N passed, M failed".
#
# Env: INLOOP_BIN  the built inloop binary (default: $INLOOP_ROOT/build/inloop)
#      INLOOP_ROOT the repository root (default: derived from this script's path)
# Needs node and the test peers installed (scripts/test runs `npm ci` in tests/peers).
set -euo pipefail

INLOOP_ROOT="${INLOOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
INLOOP_BIN="${INLOOP_BIN:-$INLOOP_ROOT/build/inloop}"
PEERS="$INLOOP_ROOT/tests/peers"

if ! command -v node >/dev/null 2>&1; then
  echo "cross-validate: node not found (scripts/test installs it)" >&2
  exit 1
fi
if [ ! -d "$PEERS/node_modules/@medplum/core" ] || [ ! -d "$PEERS/node_modules/fhir" ]; then
  echo "cross-validate: test peers missing; run: (cd tests/peers && npm ci)" >&2
  exit 1
fi
if [ ! -x "$INLOOP_BIN" ]; then
  echo "cross-validate: no inloop binary at $INLOOP_BIN (set INLOOP_BIN)" >&2
  exit 1
fi

node "$PEERS/cross-validate.mjs" --inloop "$INLOOP_BIN" \
  --corpus "$INLOOP_ROOT/tests/data/fhir/corpus" --known "$PEERS/known-differences.json"

# The translator's outputs: every golden transaction Bundle (one per record in
# the examples and tests/data/records/translate) must be valid for inloop AND
# both peers, with no known difference allowed.
golden=$(mktemp -d)
trap 'rm -rf "$golden"' EXIT
mkdir -p "$golden/valid" "$golden/invalid"
cp "$INLOOP_ROOT"/tests/data/golden/*.json "$golden/valid/"
printf '{"differences": []}\n' > "$golden/known.json"
node "$PEERS/cross-validate.mjs" --inloop "$INLOOP_BIN" --corpus "$golden" --known "$golden/known.json"

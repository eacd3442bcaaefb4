#!/usr/bin/env bash
# Checks the plan-record JSON Schema, docs/record-format.schema.json, with Ajv (draft
# 2020-12, from the test peers) against the project's records: every record in
# examples/records, tests/data/records/good and tests/data/records/translate must pass;
# every record listed in tests/data/records/schema-bad/expected.json must be rejected,
# with an error at the place (JSON Pointer) the file lists for it and none elsewhere.
# Prints one line per failing file, then "N passed, M failed"; exit 1 when anything
# failed or the peers are missing.
#
# Env: INLOOP_ROOT the repository root (default: derived from this script's path).
# INLOOP_BIN is not used: this suite checks the schema and the records, not inloop.
# Needs node and the test peers installed (scripts/test runs `npm ci` in tests/peers).
set -euo pipefail

INLOOP_ROOT="${INLOOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PEERS="$INLOOP_ROOT/tests/peers"

if ! command -v node >/dev/null 2>&1; then
  echo "record-schema: node not found (scripts/test installs it)" >&2
  exit 1
fi
if [ ! -f "$PEERS/node_modules/ajv/dist/2020.js" ]; then
  echo "record-schema: test peers missing (no ajv); run: (cd tests/peers && npm ci)" >&2
  exit 1
fi

cd "$INLOOP_ROOT"
exec node "$PEERS/check-record-schema.mjs" --schema docs/record-format.schema.json \
  --good examples/records \
  --good tests/data/records/good \
  --good tests/data/records/translate \
  --bad tests/data/records/schema-bad

#!/usr/bin/env bash
# Smoke test of the test peers themselves: starts tests/peers/fhir-server.mjs (plain,
# --reject-types CarePlan,Goal and --fail-first 2:503) on loopback port 0 and checks over
# real HTTP what the end-to-end delivery tests rely on (metadata, transaction with
# conditional PUTs and conditional references, rollback, validation, read, search, 405/422
# for rejected types, simulated 503s, clean SIGTERM). Exit 1 when a check fails.
#
# Env: INLOOP_ROOT the repository root (default: derived from this script's path).
# INLOOP_BIN is not used: this suite tests the peers, not inloop.
set -euo pipefail

INLOOP_ROOT="${INLOOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PEERS="$INLOOP_ROOT/tests/peers"

if ! command -v node >/dev/null 2>&1; then
  echo "peers-smoke: node not found (scripts/test installs it)" >&2
  exit 1
fi
if [ ! -d "$PEERS/node_modules/@medplum/fhir-router" ]; then
  echo "peers-smoke: test peers missing; run: (cd tests/peers && npm ci)" >&2
  exit 1
fi

exec node "$PEERS/fhir-server-smoke.mjs" --corpus "$INLOOP_ROOT/tests/data/fhir/corpus"

#!/usr/bin/env bash
# Keeps the benchmark harness from rotting: runs `scripts/bench --smoke` (each
# benchmark ~1 s on small inputs) and checks that its JSON result holds a
# numeric, positive value for every benchmark it ran and an explicit reason for
# every one it skipped, the load average at the start and end of each, and that
# the delivery and scale runs delivered every record they posted. It never
# asserts how fast anything is. Exit 1 on a missing or non-positive number.
#
# Env: INLOOP_ROOT the repository root (default: derived from this script's
# path). INLOOP_BIN is not used: scripts/bench builds its own Release binary.
set -euo pipefail

INLOOP_ROOT="${INLOOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
OUT_DIR="$(mktemp -d)"
trap 'rm -rf "$OUT_DIR"' EXIT

"$INLOOP_ROOT/scripts/bench" --smoke --out "$OUT_DIR/result.json" >"$OUT_DIR/table.md"

node --input-type=module - "$OUT_DIR/result.json" "$OUT_DIR/table.md" <<'JS'
import fs from 'node:fs';
const [resultFile, tableFile] = process.argv.slice(2);
const out = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
const failures = [];
const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
const positive = (label, obj, path) => {
  const v = get(obj, path);
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    failures.push(`${label}: ${path} = ${JSON.stringify(v)} (expected a positive number)`);
  }
};
// What every benchmark must report when it ran.
const required = {
  'translate': ['inputRecords', 'inloop.recordsPerSec', 'inloop.inputMBPerSec',
    'rapidjsonBound.recordsPerSec', 'rapidjsonBound.inputMBPerSec', 'fractionOfBound'],
  'translate-peer': ['recordsPerSec', 'inputMBPerSec', 'inloopOverPeer'],
  'fsync': ['fsyncs', 'fsyncsPerSec'],
  'ingest': ['acceptedRecords', 'commits', 'recordsPerSec', 'recordsPerCommit',
    'wrk.requests', 'wrk.latencyMicros.p50', 'wrk.latencyMicros.p99',
    'wrk.latencyMicros.p999', 'serverCpuSeconds', 'serverPeakRssMB'],
  'delivery': ['records', 'ledgerDelivered', 'endToEndRecordsPerSec', 'deliveryOnlyRecordsPerSec',
    'ingestRecordsPerSec', 'latencyMs.p50', 'latencyMs.p99', 'serverPeakRssMB'],
  'scale': ['records', 'ledgerDelivered', 'drainRecordsPerSec', 'storeBytesPerRecord',
    'startupMsIdle', 'idleRssMB', 'serverPeakRssMB'],
};
// Every result line carries the load average at its start and end.
const loadOk = (r) => ['loadAverageStart', 'loadAverageEnd'].every((k) =>
  Array.isArray(r[k]) && r[k].length === 3 && r[k].every((x) => typeof x === 'number' && x >= 0));
const ran = new Set();
for (const r of out.results) {
  const label = `${r.benchmark}${r.type ? ` ${r.type}` : ''}${r.connections ? ` c=${r.connections}` : ''}`;
  if (r.skipped !== undefined) {
    if (typeof r.skipped !== 'string' || r.skipped.length === 0) failures.push(`${label}: skipped without a reason`);
    continue;
  }
  ran.add(r.benchmark);
  const paths = required[r.benchmark];
  if (!paths) { failures.push(`${label}: unknown benchmark`); continue; }
  for (const p of paths) positive(label, r, p);
  if (!loadOk(r)) failures.push(`${label}: no load average at start and end`);
  if ((r.benchmark === 'delivery' || r.benchmark === 'scale') &&
      (r.timedOut || r.ledgerDelivered !== r.records)) {
    failures.push(`${label}: ${r.ledgerDelivered} of ${r.records} records delivered`);
  }
}
for (const t of ['measurement', 'medication-change', 'care-plan']) {
  if (!out.results.some((r) => r.benchmark === 'translate' && r.type === t)) failures.push(`no translation result for ${t}`);
}
for (const b of ['translate-peer', 'fsync']) if (!ran.has(b)) failures.push(`no ${b} result`);
for (const b of ['ingest', 'delivery', 'scale']) {
  if (!out.results.some((r) => r.benchmark === b)) failures.push(`${b} neither ran nor was skipped`);
}
if (ran.has('delivery')) {
  for (const t of ['nginx', 'medplum']) {
    if (!out.results.some((r) => r.benchmark === 'delivery' && r.target === t)) failures.push(`no delivery result for ${t}`);
  }
}
for (const k of ['cpuModel', 'cores', 'kernel', 'compiler', 'buildFlags', 'commit']) {
  if (!out.machine?.[k]) failures.push(`machine info lacks ${k}`);
}
const table = fs.readFileSync(tableFile, 'utf8');
if (!table.includes('| measurement |') || !table.includes('### Targets')) failures.push('no Markdown table printed');
if (failures.length) {
  console.error('bench-smoke: FAILED\n  ' + failures.join('\n  '));
  process.exit(1);
}
console.log(`bench-smoke: ${out.results.length} results checked (${[...ran].join(', ')})`);
JS

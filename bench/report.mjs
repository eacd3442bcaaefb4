// The report of scripts/bench: reads the benchmarks' JSON lines, adds machine
// info and the issue's targets (met / missed / not measured), writes the JSON
// result file and prints the Markdown table on stdout.
//
//   node report.mjs --results FILE.ndjson --build-dir DIR --mode full|smoke
//                   --seconds S --records N --batch B --command TEXT --out FILE.json
//                   [--load-start "1m 5m 15m"] [--baseline REV]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}

const run = (cmd, cmdArgs) => {
  try {
    return execFileSync(cmd, cmdArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim();
  } catch {
    return '';
  }
};

const results = fs.readFileSync(args.results, 'utf8').split('\n').filter((l) => l.trim())
  .map((l) => JSON.parse(l));

// ---- machine info ----
const cache = fs.readFileSync(path.join(args['build-dir'], 'CMakeCache.txt'), 'utf8');
const cacheValue = (key) => (cache.match(new RegExp(`^${key}:[A-Z]+=(.*)$`, 'm')) || [])[1] || '';
const buildType = cacheValue('CMAKE_BUILD_TYPE');
const compilerPath = cacheValue('CMAKE_CXX_COMPILER');
const cpuModel = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) ||
  [])[1] || os.cpus()[0]?.model || 'unknown';
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// INLOOP_BENCH_COMMIT: when the tree is an export of a commit (no .git).
const commit = process.env.INLOOP_BENCH_COMMIT || run('git', ['-C', repo, 'rev-parse', 'HEAD']);
const dirty = run('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']) !== '';
const machine = {
  cpuModel,
  cores: os.cpus().length,
  memoryMB: Math.round(os.totalmem() / 2 ** 20),
  kernel: `${os.type()} ${os.release()}`,
  os: (fs.existsSync('/etc/os-release') &&
    (fs.readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m) || [])[1]) ||
    'unknown',
  compiler: run(compilerPath || 'c++', ['--version']).split('\n')[0],
  buildType,
  buildFlags: [cacheValue('CMAKE_CXX_FLAGS'), cacheValue(`CMAKE_CXX_FLAGS_${buildType.toUpperCase()}`),
    '-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor', '-std=c++20']
    .filter((s) => s).join(' '),
  node: process.version,
  // wrk -v prints its version and exits non-zero.
  wrk: (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout || '').split('\n')[0].split(' Copyright')[0].trim() ||
    'wrk unknown',
  loadAverageAtStart: (args['load-start'] || '').split(/\s+/).filter((x) => x).map(Number),
  loadAverageAtEnd: os.loadavg().map((x) => Number(x.toFixed(2))),
  commit: commit + (dirty ? ' (with uncommitted changes)' : ''),
  date: new Date().toISOString(),
};

// ---- derived numbers ----
const byType = (t) => results.find((r) => r.benchmark === 'translate' && r.type === t);
const peer = results.find((r) => r.benchmark === 'translate-peer');
const fsync = results.find((r) => r.benchmark === 'fsync');
for (const r of results.filter((x) => x.benchmark === 'ingest' && !x.skipped)) {
  const seconds = r.wrk.durationMicros / 1e6;
  r.recordsPerSec = r.acceptedRecords / seconds;
  r.requestsPerSec = r.wrk.requests / seconds;
  r.recordsPerCommit = r.commits > 0 ? r.acceptedRecords / r.commits : null;
  r.serverCpuCores = r.serverCpuSeconds / seconds;
  // Server CPU per accepted record: the cost, less sensitive than the rate to
  // how much of a shared machine the server got.
  r.serverCpuMicrosPerRecord = r.acceptedRecords > 0
    ? (r.serverCpuSeconds * 1e6) / r.acceptedRecords : null;
  r.serverPeakRssMB = r.serverPeakRssKB / 1024;
  r.errorCount = Object.values(r.wrk.errors).reduce((a, b) => a + b, 0);
  r.latencyMs = Object.fromEntries(Object.entries(r.wrk.latencyMicros)
    .map(([k, v]) => [k, v / 1000]));
}
// Delivery and scale: rates from the store's ledger (ms timestamps).
for (const r of results.filter((x) => x.benchmark === 'delivery' && !x.skipped)) {
  r.endToEndSeconds = (r.lastDeliveredAtMs - r.firstPostAtMs) / 1000;
  r.endToEndRecordsPerSec = r.ledgerDelivered / r.endToEndSeconds;
  r.deliveryOnlyRecordsPerSec = r.ledgerDelivered / ((r.lastDeliveredAtMs - r.firstAttemptAtMs) / 1000);
  r.ingestRecordsPerSec = r.post.accepted / r.post.seconds;
  r.serverCpuCores = r.serverCpuSeconds / ((r.pollEndAtMs - r.firstPostAtMs) / 1000);
  r.receiverCpuCores = r.receiverCpuSeconds / ((r.pollEndAtMs - r.firstPostAtMs) / 1000);
  r.serverPeakRssMB = r.serverPeakRssKB / 1024;
}
for (const r of results.filter((x) => x.benchmark === 'scale' && !x.skipped)) {
  r.drainSeconds = (r.lastDeliveredAtMs - r.firstAttemptAtMs) / 1000;
  r.drainRecordsPerSec = r.ledgerDelivered / r.drainSeconds;
  r.ingestRecordsPerSec = r.ingest.accepted / r.ingest.seconds;
  r.storeBytesPerRecord = r.storeBytes / r.records;
  r.idleRssMB = r.idleRssKB / 1024;
  r.serverPeakRssMB = r.serverPeakRssKB / 1024;
  r.serverCpuCores = r.serverCpuSeconds / r.drainSeconds;
  // Cost per record in CPU time: less sensitive than the rate to how much of
  // a shared machine the server got.
  r.serverCpuMsPerRecord = (r.serverCpuSeconds * 1000) / r.ledgerDelivered;
}
const deliveryRuns = results.filter((r) => r.benchmark === 'delivery' && !r.skipped);
const scaleRuns = results.filter((r) => r.benchmark === 'scale' && !r.skipped)
  .sort((a, b) => a.records - b.records);

const meas = byType('measurement');
if (peer && meas) peer.inloopOverPeer = meas.inloop.recordsPerSec / peer.recordsPerSec;
const single = (c) => results.find((r) => r.benchmark === 'ingest' && r.mode === 'single' &&
  r.connections === c);
const batch = results.find((r) => r.benchmark === 'ingest' && r.mode === 'batch');
const ingestRuns = results.filter((r) => r.benchmark === 'ingest' && !r.skipped);

// ---- targets ----
const targets = [];
// `partial`: the measurement is not the one the target names (e.g. 100k instead
// of 1M records): its status says so instead of met / MISSED.
const target = (name, goal, value, met, unit = '', partial = '') => targets.push({
  name, target: goal, value: value === undefined ? null : value, unit,
  status: value === undefined || value === null ? 'not yet measured'
    : partial ? `${met ? 'met' : 'MISSED'} at this size; ${partial}` : met ? 'met' : 'MISSED',
});
target('translation, measurement records/s (one core)', '>= 100,000', meas?.inloop.recordsPerSec,
  meas?.inloop.recordsPerSec >= 100000);
const cp = byType('care-plan');
target('translation, care-plan records/s (one core)', '>= 15,000', cp?.inloop.recordsPerSec,
  cp?.inloop.recordsPerSec >= 15000);
target('translation vs JSONata peer (measurement)', '>= 10x', peer?.inloopOverPeer,
  peer?.inloopOverPeer >= 10, 'x');
// Issue 17 (architecture round): 50% / 45% of the bound for measurements and
// care plans; medication changes keep the earlier 25%.
for (const [t, goal] of [['measurement', 0.5], ['medication-change', 0.25], ['care-plan', 0.45]]) {
  const r = byType(t);
  target(`translation vs RapidJSON parse+write bound (${t})`, `>= ${goal * 100}%`,
    r && r.fractionOfBound * 100, r && r.fractionOfBound >= goal, '%');
}
const c32 = single(32);
target('durable ingest at 32 connections, records/s', '>= 5,000', c32?.recordsPerSec,
  c32?.recordsPerSec >= 5000);
target('durable ingest at 32 connections, p99 latency', '< 20 ms', c32?.latencyMs.p99,
  c32?.latencyMs.p99 < 20, 'ms');
target('durable ingest at 32 connections, server CPU per record', '<= 150 us',
  c32?.serverCpuMicrosPerRecord, c32?.serverCpuMicrosPerRecord <= 150, 'us');
target('batch ingest, records/s (2 cores)', '>= 35,000', batch?.recordsPerSec,
  batch?.recordsPerSec >= 35000);
const loadRuns = [...ingestRuns, ...deliveryRuns, ...scaleRuns];
const peakRss = loadRuns.length ? Math.max(...loadRuns.map((r) => r.serverPeakRssMB)) : undefined;
target('server RSS under load (peak VmHWM: ingest, delivery, drain)', '< 100 MB', peakRss,
  peakRss < 100, 'MB');
// With --baseline, the baseline's runs are for the comparison only, not targets.
const isBaseline = (r) => args.baseline && r.build === args.baseline;
const sinkRuns = deliveryRuns.filter((r) => r.target === 'nginx' && !isBaseline(r));
for (const r of sinkRuns) {
  target(`end-to-end to an nginx sink, records/s (maxInFlight ${r.maxInFlight})`, '>= 3,000',
    r.endToEndRecordsPerSec, r.endToEndRecordsPerSec >= 3000 && !r.timedOut);
}
if (!sinkRuns.length) target('end-to-end to an nginx sink, records/s', '>= 3,000', undefined, false);
const small = scaleRuns[0];
const large = scaleRuns.length > 1 ? scaleRuns[scaleRuns.length - 1] : undefined;
const kilo = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const drainRatio = small && large ? large.drainRecordsPerSec / small.drainRecordsPerSec : undefined;
const not1m = (r) => (r && r.records < 1e6 ? '1M not run' : '');
target(`backlog drain rate at ${large ? kilo(large.records) : '1M'} / at ${small ? kilo(small.records) : '10k'}`,
  '0.85-1.15 x', drainRatio, drainRatio >= 0.85 && drainRatio <= 1.15 && !large?.timedOut, 'x',
  not1m(large));
const biggest = scaleRuns[scaleRuns.length - 1];
target(`start-up with a ${biggest ? kilo(biggest.records) : '1M'}-record store`, '< 1,000 ms',
  biggest?.startupMsIdle, biggest?.startupMsIdle < 1000, 'ms', not1m(biggest));

const output = {
  mode: args.mode,
  command: args.command,
  secondsPerRun: Number(args.seconds),
  recordsPerType: Number(args.records),
  batchSize: Number(args.batch),
  machine,
  results,
  targets,
};
fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
fs.writeFileSync(args.out, JSON.stringify(output, null, 2) + '\n');

// ---- Markdown ----
const n = (x, digits = 0) => (x === undefined || x === null || Number.isNaN(x) ? '-'
  : Number(x).toLocaleString('en-US', { maximumFractionDigits: digits,
    minimumFractionDigits: digits }));
const loadText = (r) => (r.loadAverageStart ? `${r.loadAverageStart[0]} -> ${r.loadAverageEnd[0]}` : '-');
const lines = [];
lines.push(`Command: \`${args.command}\` (${args.mode}, ${args.seconds} s per timed run, ` +
  `${n(Number(args.records))} generated records per type)`, '');
lines.push(`Machine: ${machine.cpuModel}, ${machine.cores} cores, ${n(machine.memoryMB)} MB, ` +
  `${machine.os}, ${machine.kernel}; ${machine.compiler}; ${machine.buildType} ` +
  `\`${machine.buildFlags}\`; node ${machine.node}; ${machine.wrk}; commit ${machine.commit}; ` +
  `load average (1/5/15 min) at the start ${machine.loadAverageAtStart.join(' / ') || '-'}, ` +
  `at the end ${machine.loadAverageAtEnd.join(' / ')}`, '');
const translations = results.filter((r) => r.benchmark === 'translate');
if (translations.length) lines.push('### Translation (in process, one core)', '');
if (translations.length) lines.push('| record type | input B/record | inloop records/s | inloop input MB/s | ' +
  'RapidJSON bound records/s | inloop / bound | load avg (1 min) start -> end |');
if (translations.length) lines.push('|---|---:|---:|---:|---:|---:|---|');
for (const t of ['measurement', 'medication-change', 'care-plan']) {
  const r = byType(t);
  if (!r) continue;
  lines.push(`| ${t} | ${n(r.inputBytesPerRecord)} | ${n(r.inloop.recordsPerSec)} | ` +
    `${n(r.inloop.inputMBPerSec, 2)} | ${n(r.rapidjsonBound.recordsPerSec)} | ` +
    `${n(r.fractionOfBound * 100, 1)}% | ${loadText(r)} |`);
}
if (peer) {
  lines.push('', `JSONata peer (${peer.peer}), measurement records, Observation only: ` +
    `${n(peer.recordsPerSec)} records/s, ${n(peer.inputMBPerSec, 2)} MB/s; ` +
    `inloop / peer = ${n(peer.inloopOverPeer, 1)}x (load average ${loadText(peer)})`);
}
const skippedIngest = results.find((r) => r.benchmark === 'ingest' && r.skipped);
if (skippedIngest || ingestRuns.length) {
  lines.push('', '### Durable ingest (HTTP keep-alive, loopback, wrk)', '');
}
if (skippedIngest) {
  lines.push(`Not measured: ${skippedIngest.skipped}.`);
} else if (ingestRuns.length) {
  lines.push('| mode | connections | records/s | p50 ms | p99 ms | p99.9 ms | errors | ' +
    'records/commit | server CPU (cores) | server CPU us/record | server peak RSS MB | ' +
    'load avg (1 min) start -> end |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of ingestRuns) {
    lines.push(`| ${r.mode === 'batch' ? `NDJSON batch of ${r.batch}` : 'single record'} | ` +
      `${r.connections} | ${n(r.recordsPerSec)} | ${n(r.latencyMs.p50, 2)} | ` +
      `${n(r.latencyMs.p99, 2)} | ${n(r.latencyMs.p999, 2)} | ${n(r.errorCount)} | ` +
      `${n(r.recordsPerCommit, 1)} | ${n(r.serverCpuCores, 2)} | ` +
      `${n(r.serverCpuMicrosPerRecord)} | ${n(r.serverPeakRssMB, 1)} | ` +
      `${loadText(r)} |`);
  }
}
if (fsync) {
  lines.push('', `Raw fsync rate of the same file system (4 KiB write + fsync): ` +
    `${n(fsync.fsyncsPerSec)} /s (mean ${n(fsync.meanMicros / 1000, 2)} ms; load average ` +
    `${loadText(fsync)})`);
}
// A Markdown table: title, column headers, alignment per column (r: right), rows of cells.
const table = (title, headers, aligns, rows) => {
  lines.push('', title, '', `| ${headers.join(' | ')} |`,
    `|${aligns.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`));
};
if (deliveryRuns.length) {
  table('### End-to-end delivery (records posted in NDJSON batches, delivered on loopback)',
    ['target', 'build', 'kind', 'maxInFlight', 'records', 'ingest records/s', 'end-to-end records/s',
      'delivery-only records/s', 'latency p50 ms', 'latency p99 ms', 'other attempts',
      'server CPU (cores)', 'receiver CPU (cores)', 'server peak RSS MB',
      'load avg (1 min) start -> end'],
    'lllrrrrrrrrrrrl'.split(''),
    deliveryRuns.map((r) => [r.target === 'nginx' ? 'nginx sink (201)' : 'Medplum FHIR server',
      r.build || 'this tree', r.kind, r.maxInFlight,
      n(r.ledgerDelivered) + (r.timedOut ? ` of ${n(r.records)} (timed out)` : ''),
      n(r.ingestRecordsPerSec), n(r.endToEndRecordsPerSec), n(r.deliveryOnlyRecordsPerSec),
      n(r.latencyMs?.p50), n(r.latencyMs?.p99), n(r.otherAttempts), n(r.serverCpuCores, 2),
      n(r.receiverCpuCores, 2), n(r.serverPeakRssMB, 1), loadText(r)]));
}
if (args.baseline) {
  // Per maxInFlight: the mean over the alternated runs of each build.
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rows = [];
  for (const inFlight of [...new Set(deliveryRuns.filter(isBaseline).map((r) => r.maxInFlight))]) {
    const pick = (base) => deliveryRuns.filter((r) => r.target === 'nginx' &&
      r.maxInFlight === inFlight && isBaseline(r) === base);
    const [b, c] = [pick(true), pick(false)];
    if (!b.length || !c.length) continue;
    const e2e = (rs) => mean(rs.map((r) => r.endToEndRecordsPerSec));
    const ingest = (rs) => mean(rs.map((r) => r.ingestRecordsPerSec));
    const cpuMs = (rs) => mean(rs.map((r) => (r.serverCpuSeconds * 1000) / r.ledgerDelivered));
    rows.push([inFlight, `${b.length} + ${c.length}`, n(e2e(b)), n(e2e(c)), n(e2e(c) / e2e(b), 2),
      n(ingest(c) / ingest(b), 2), n(cpuMs(b), 3), n(cpuMs(c), 3), n(cpuMs(c) / cpuMs(b), 2)]);
  }
  table(`### This tree against the baseline ${args.baseline} (nginx sink, runs alternated)`,
    ['maxInFlight', 'runs (baseline + this tree)', 'baseline e2e records/s',
      'this tree e2e records/s', 'e2e ratio', 'ingest ratio', 'baseline server CPU ms/record',
      'this tree server CPU ms/record', 'CPU ratio'],
    'rrrrrrrrr'.split(''), rows);
}
if (scaleRuns.length) {
  table('### Scale: backlog drain to the nginx sink',
    ['queued records', 'patients', 'maxInFlight', 'ingest records/s (paused)',
      'store bytes/record', 'start-up ms', 'idle RSS MB', 'drain s', 'drain records/s',
      'rate / smallest', 'server CPU (cores)', 'server CPU ms/record', 'peak RSS MB (drain)',
      'load avg (1 min) start -> end'],
    'rrrrrrrrrrrrrl'.split(''),
    scaleRuns.map((r) => [
      n(r.records) + (r.timedOut ? ` (timed out, ${n(r.ledgerDelivered)} delivered)` : ''),
      n(r.patients), r.maxInFlight, n(r.ingestRecordsPerSec), n(r.storeBytesPerRecord),
      n(r.startupMsIdle), n(r.idleRssMB, 1), n(r.drainSeconds, 1), n(r.drainRecordsPerSec),
      n(r.drainRecordsPerSec / small.drainRecordsPerSec, 2), n(r.serverCpuCores, 2),
      n(r.serverCpuMsPerRecord, 3), n(r.serverPeakRssMB, 1), loadText(r)]));
}
for (const r of results.filter((x) => x.skipped && x.benchmark !== 'ingest')) {
  lines.push('', `${r.benchmark}: not yet measured (${r.skipped}).`);
}
lines.push('', '### Targets', '', '| target | goal | measured | status |', '|---|---|---:|---|');
for (const t of targets) {
  lines.push(`| ${t.name} | ${t.target} | ${t.value === null ? '-' : n(t.value, t.unit ? 1 : 0) +
    (t.unit ? ` ${t.unit}` : '')} | ${t.status} |`);
}
console.log(lines.join('\n'));

#!/usr/bin/env node
// Smoke test of fhir-server.mjs: starts it (three instances: plain, --reject-types
// CarePlan,Goal, --fail-first 2:503) on loopback port 0, talks real HTTP to it and checks the
// behaviour the end-to-end delivery tests rely on. Prints "ok ..." / "FAIL ..." per check and
// "fhir-server-smoke: N passed, M failed"; exit 1 when anything failed.
//
// Usage: node fhir-server-smoke.mjs [--corpus DIR]

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const kHere = dirname(fileURLToPath(import.meta.url));
const kStartTimeoutMs = 30000;
const kNs = 'https://pain-center.example.org/fhir/id';
const kMrnQuery = `identifier=${kNs}/mrn|PC-448812`;

let corpus = resolve(kHere, '../data/fhir/corpus');
const argv = process.argv.slice(2);
if (argv[0] === '--corpus' && argv[1]) corpus = resolve(argv[1]);

const load = (rel) => JSON.parse(readFileSync(join(corpus, rel), 'utf8'));

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}\n`);
}

// Starts a server and resolves with {base, child} once it printed its "listening" line.
function startServer(args) {
  const child = spawn(process.execPath, [join(kHere, 'fhir-server.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${args.join(' ')} did not start within ${kStartTimeoutMs} ms`));
    }, kStartTimeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${args.join(' ')} exited early with ${code}`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolvePromise({ base: JSON.parse(line).listening, child });
      } catch (e) {
        reject(new Error(`unexpected first line from server: ${line}`));
      }
    });
  });
}

function stopServer(child) {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null) {
      resolvePromise(child.exitCode);
      return;
    }
    child.removeAllListeners('exit');
    child.once('exit', (code, signal) => resolvePromise(code ?? signal));
    child.kill('SIGTERM');
  });
}

async function call(base, method, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { Accept: 'application/fhir+json', ...(body ? { 'Content-Type': 'application/fhir+json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const search = (base, type, query) => call(base, 'GET', `/${type}?${query}`);

function withoutId(resource) {
  const { id: _id, ...rest } = resource;
  return rest;
}

async function plainServerChecks(base) {
  const meta = await call(base, 'GET', '/metadata');
  const types = meta.json?.rest?.[0]?.resource?.map((r) => r.type) ?? [];
  check('metadata is an R4 CapabilityStatement listing CarePlan', meta.status === 200 &&
    meta.json.resourceType === 'CapabilityStatement' && meta.json.fhirVersion === '4.0.1' &&
    types.includes('CarePlan'), `status ${meta.status}`);

  const bundle = load('valid/bundle-transaction-conditional.json');
  const tx = await call(base, 'POST', '/', bundle);
  const statuses = tx.json?.entry?.map((e) => e.response?.status) ?? [];
  check('transaction with conditional PUTs creates every entry', tx.status === 200 &&
    tx.json.type === 'transaction-response' && statuses.length === 4 &&
    statuses.every((s) => s === '201'), `status ${tx.status}, entries ${statuses}`);

  const patients = await search(base, 'Patient', kMrnQuery);
  const patientId = patients.json?.entry?.[0]?.resource?.id;
  check('Patient found by identifier', patients.json?.total === 1 && !!patientId);
  const plans = await search(base, 'CarePlan', `identifier=${kNs}/care-plan|CP-2026-0412`);
  const plan = plans.json?.entry?.[0]?.resource;
  check('conditional reference Patient?identifier= resolved to Patient/id',
    plans.json?.total === 1 && plan?.subject?.reference === `Patient/${patientId}`,
    JSON.stringify(plan?.subject));
  check('urn:uuid reference to the Goal rewritten to Goal/id',
    /^Goal\/[^/]+$/.test(plan?.goal?.[0]?.reference ?? ''), JSON.stringify(plan?.goal));

  const again = await call(base, 'POST', '/', bundle);
  const againStatuses = again.json?.entry?.map((e) => e.response?.status) ?? [];
  const plansAfter = await search(base, 'CarePlan', `identifier=${kNs}/care-plan|CP-2026-0412`);
  check('replayed transaction updates instead of duplicating', again.status === 200 &&
    againStatuses.every((s) => s === '200') && plansAfter.json?.total === 1,
    `statuses ${againStatuses}, total ${plansAfter.json?.total}`);

  const obs = { ...withoutId(load('valid/observation-local-code.json')),
    subject: { reference: `Patient?${kMrnQuery}` } };
  const obsQuery = `identifier=${kNs}/measurement|M-2026-0004`;
  const put1 = await call(base, 'PUT', `/Observation?${obsQuery}`, obs);
  check('conditional PUT without a match creates (201, Location, ETag)', put1.status === 201 &&
    /\/Observation\/[^/]+\/_history\//.test(put1.headers.get('location') ?? '') &&
    /^W\/"/.test(put1.headers.get('etag') ?? ''), `status ${put1.status}`);
  const put2 = await call(base, 'PUT', `/Observation?${obsQuery}`, obs,
    { Prefer: 'return=OperationOutcome' });
  check('conditional PUT with a match updates (200) and honours Prefer: return=OperationOutcome',
    put2.status === 200 && put2.json?.resourceType === 'OperationOutcome', `status ${put2.status}`);
  const read = await call(base, 'GET', `/Observation/${put1.json?.id}`);
  check('read by id returns the stored resource with the resolved subject', read.status === 200 &&
    read.json?.subject?.reference === `Patient/${patientId}`, `status ${read.status}`);

  const bad = withoutId(load('invalid/observation-obs6-value-and-dataabsentreason.json'));
  const badQuery = `identifier=${kNs}/measurement|M-BAD-1`;
  bad.identifier = [{ system: `${kNs}/measurement`, value: 'M-BAD-1' }];
  const rejected = await call(base, 'PUT', `/Observation?${badQuery}`, bad);
  const notStored = await search(base, 'Observation', badQuery);
  check('invalid resource (obs-6) refused with 400 OperationOutcome and not stored',
    rejected.status === 400 && rejected.json?.resourceType === 'OperationOutcome' &&
    notStored.json?.total === 0, `status ${rejected.status}`);

  const good = { ...withoutId(load('valid/observation-weight-decimal.json')),
    identifier: [{ system: `${kNs}/measurement`, value: 'M-TX-GOOD' }] };
  const mixed = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:5b0f7c1e-1111-4a57-9d2e-000000000001', resource: good,
        request: { method: 'PUT', url: `Observation?identifier=${kNs}/measurement|M-TX-GOOD` } },
      { fullUrl: 'urn:uuid:5b0f7c1e-1111-4a57-9d2e-000000000002', resource: bad,
        request: { method: 'PUT', url: `Observation?${badQuery}` } },
    ],
  };
  const failedTx = await call(base, 'POST', '/', mixed);
  const rolledBack = await search(base, 'Observation', `identifier=${kNs}/measurement|M-TX-GOOD`);
  check('transaction with one invalid entry fails as a whole and is rolled back',
    failedTx.status >= 400 && rolledBack.json?.total === 0,
    `status ${failedTx.status}, total ${rolledBack.json?.total}`);

  // The token index (fhir-server.mjs) must not change what a search finds or what a rollback
  // restores.
  const stored = await call(base, 'GET', `/Observation/${put1.json?.id}`);
  const historyBefore = await call(base, 'GET', `/Observation/${put1.json?.id}/_history`);
  const updateThenFail = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: { ...stored.json, status: 'amended' },
        request: { method: 'PUT', url: `Observation/${put1.json?.id}` } },
      { resource: bad, request: { method: 'PUT', url: `Observation?${badQuery}` } },
    ],
  };
  const failedUpdate = await call(base, 'POST', '/', updateThenFail);
  const afterRollback = await call(base, 'GET', `/Observation/${put1.json?.id}`);
  const historyAfter = await call(base, 'GET', `/Observation/${put1.json?.id}/_history`);
  check('a failed transaction puts an updated resource and its history back',
    failedUpdate.status >= 400 && afterRollback.json?.status === stored.json?.status &&
    afterRollback.json?.meta?.versionId === stored.json?.meta?.versionId &&
    historyAfter.json?.entry?.length === historyBefore.json?.entry?.length,
    `status ${failedUpdate.status}, versions ${historyBefore.json?.entry?.length} -> ` +
    `${historyAfter.json?.entry?.length}`);
  const renamed = { ...stored.json,
    identifier: [{ system: `${kNs}/measurement`, value: 'M-2026-0004-R' }] };
  const rename = await call(base, 'PUT', `/Observation/${put1.json?.id}`, renamed);
  const byOld = await search(base, 'Observation', obsQuery);
  const byNew = await search(base, 'Observation', `identifier=${kNs}/measurement|M-2026-0004-R`);
  const byValue = await search(base, 'Observation', 'identifier=M-2026-0004-R');
  const byOtherSystem = await search(base, 'Observation', 'identifier=urn:other|M-2026-0004-R');
  check('identifier search follows updates (old value gone, new found with and without system)',
    rename.status === 200 && byOld.json?.total === 0 && byNew.json?.total === 1 &&
    byValue.json?.total === 1 && byOtherSystem.json?.total === 0,
    `status ${rename.status}, totals ${byOld.json?.total}/${byNew.json?.total}/` +
    `${byValue.json?.total}/${byOtherSystem.json?.total}`);

  const dangling = { ...good, subject: { reference: `Patient?identifier=${kNs}/mrn|NOBODY` } };
  const danglingPut = await call(base, 'PUT', `/Observation?identifier=${kNs}/measurement|M-TX-GOOD`,
    dangling);
  check('conditional reference without a match refused with 400', danglingPut.status === 400,
    `status ${danglingPut.status}`);

  const outside = await fetch(base.replace('/fhir/R4', '/other'));
  check('paths outside /fhir/R4 answer 404', outside.status === 404, `status ${outside.status}`);
}

async function rejectingServerChecks(base) {
  const meta = await call(base, 'GET', '/metadata');
  const types = meta.json?.rest?.[0]?.resource?.map((r) => r.type) ?? [];
  check('--reject-types leaves CarePlan and Goal out of the CapabilityStatement',
    !types.includes('CarePlan') && !types.includes('Goal') && types.includes('Observation'));
  const plan = withoutId(load('valid/careplan.json'));
  const put = await call(base, 'PUT', `/CarePlan?identifier=${kNs}/care-plan|CP-2026-0412`, plan);
  check('--reject-types answers a CarePlan write with 405', put.status === 405 &&
    put.json?.resourceType === 'OperationOutcome', `status ${put.status}`);
  const tx = await call(base, 'POST', '/', load('valid/bundle-transaction-conditional.json'));
  const patients = await search(base, 'Patient', kMrnQuery);
  check('--reject-types fails a transaction containing CarePlan with 422, nothing stored',
    tx.status === 422 && patients.json?.total === 0,
    `status ${tx.status}, patients ${patients.json?.total}`);
  const read = await search(base, 'CarePlan', `identifier=${kNs}/care-plan|CP-2026-0412`);
  check('--reject-types still allows CarePlan search', read.status === 200, `status ${read.status}`);
}

async function failingServerChecks(base) {
  const first = await call(base, 'GET', `/Patient?${kMrnQuery}`);
  const second = await call(base, 'GET', `/Patient?${kMrnQuery}`);
  const third = await call(base, 'GET', `/Patient?${kMrnQuery}`);
  check('--fail-first 2:503 fails two requests with Retry-After, then serves',
    first.status === 503 && second.status === 503 && first.headers.get('retry-after') === '0' &&
    third.status === 200, `statuses ${first.status} ${second.status} ${third.status}`);
}

async function main() {
  const servers = [];
  try {
    const started = await Promise.all([
      startServer([]),
      startServer(['--reject-types', 'CarePlan,Goal']),
      startServer(['--fail-first', '2:503']),
    ]);
    servers.push(...started);
    await plainServerChecks(started[0].base);
    await rejectingServerChecks(started[1].base);
    await failingServerChecks(started[2].base);
  } catch (err) {
    check('smoke test ran to the end', false, err?.stack ?? String(err));
  }
  for (const [i, s] of servers.entries()) {
    const code = await stopServer(s.child);
    check(`server ${i} stops cleanly on SIGTERM`, code === 0, `exit ${code}`);
  }
  process.stdout.write(`fhir-server-smoke: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main();

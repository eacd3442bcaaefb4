#!/usr/bin/env node
// Cross-checks inloop's FHIR validator against two third-party validators (see validate.mjs)
// over the corpus tests/data/fhir/corpus/{valid,invalid}/*.json.
//
// Usage: node cross-validate.mjs --inloop BIN [--corpus DIR] [--known FILE]
//        node cross-validate.mjs --peers-only [--corpus DIR] [--known FILE]
//
// For every corpus file, `BIN validate FILE` gives inloop's verdict (exit 0 valid, 1 invalid;
// any other exit status is a failure of that file). Each peer's verdict is "valid" when it
// reports no error/fatal issue. A file fails when
//   - inloop judges a valid/ file invalid or an invalid/ file valid, or
//   - a peer's verdict differs from inloop's and the pair (file, peer) is not listed in
//     known-differences.json with a reason.
// With --peers-only, the directory (valid/ or invalid/) stands in for inloop's verdict: a
// quick way to review the peers and known-differences.json without a built inloop.
// Listed differences that no longer occur are reported as "stale" (not a failure).
//
// Prints one line per failing file with each reason, then
//   cross-validate: N passed, M failed
// Exit status: 0 when nothing failed, 1 otherwise, 2 on usage or set-up errors.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import fhirPkg from 'fhir';

import { loadMedplumDefinitions, validateWithFhirJs, validateWithMedplum } from './validate.mjs';

const { Fhir } = fhirPkg;
const kHere = dirname(fileURLToPath(import.meta.url));
const kPeers = ['medplum', 'fhirjs'];

function usage(message) {
  if (message) process.stderr.write(`cross-validate.mjs: ${message}\n`);
  process.stderr.write(
    'usage: node cross-validate.mjs (--inloop BIN | --peers-only) [--corpus DIR] [--known FILE]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const options = {
    inloop: null,
    peersOnly: false,
    corpus: resolve(kHere, '../data/fhir/corpus'),
    known: resolve(kHere, 'known-differences.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--inloop') options.inloop = resolve(next());
    else if (arg === '--peers-only') options.peersOnly = true;
    else if (arg === '--corpus') options.corpus = resolve(next());
    else if (arg === '--known') options.known = resolve(next());
    else usage(`unknown argument ${arg}`);
  }
  if (!options.inloop && !options.peersOnly) usage('--inloop BIN or --peers-only is required');
  if (options.inloop && !existsSync(options.inloop)) usage(`no inloop binary at ${options.inloop}`);
  return options;
}

// Returns Map "dir/file.json|peer" -> reason; exits 2 when the file is malformed.
function loadKnownDifferences(path, corpusFiles) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    usage(`cannot read ${path}: ${e.message}`);
  }
  const known = new Map();
  for (const [i, d] of (doc.differences ?? []).entries()) {
    const where = `${path}: differences[${i}]`;
    if (typeof d.file !== 'string' || !kPeers.includes(d.peer) || typeof d.reason !== 'string') {
      usage(`${where} needs "file", "peer" (${kPeers.join(' or ')}) and "reason"`);
    }
    if (!d.reason.trim()) usage(`${where} has an empty reason`);
    if (!corpusFiles.includes(d.file)) usage(`${where} names ${d.file}, not in the corpus`);
    const key = `${d.file}|${d.peer}`;
    if (known.has(key)) usage(`${where} repeats ${key}`);
    known.set(key, d.reason);
  }
  return known;
}

function listCorpus(corpus) {
  const files = [];
  for (const dir of ['valid', 'invalid']) {
    const path = join(corpus, dir);
    if (!existsSync(path)) usage(`missing corpus directory ${path}`);
    for (const name of readdirSync(path).sort()) {
      if (name.endsWith('.json')) files.push(`${dir}/${name}`);
    }
  }
  if (files.length === 0) usage(`empty corpus at ${corpus}`);
  return files;
}

function verdictName(valid) {
  return valid ? 'valid' : 'invalid';
}

function firstLines(text, n) {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, n)
    .map((l) => `      | ${l.slice(0, 200)}`);
}

function peerSummary(peer, result) {
  if (peer === 'medplum') {
    return result.issues
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .slice(0, 3)
      .map((i) => `${i.expression?.[0] ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`);
  }
  return result.messages
    .filter((m) => m.severity === 'error' || m.severity === 'fatal')
    .slice(0, 3)
    .map((m) => `${m.location ?? ''}: ${m.message ?? ''}`);
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const files = listCorpus(options.corpus);
  const known = loadKnownDifferences(options.known, files);
  loadMedplumDefinitions();
  const fhir = new Fhir();

  let passed = 0;
  let failed = 0;
  const stale = [];
  for (const file of files) {
    const path = join(options.corpus, file);
    const expectValid = file.startsWith('valid/');
    const reasons = [];
    const details = [];

    let inloopValid = expectValid;
    if (!options.peersOnly) {
      const run = spawnSync(options.inloop, ['validate', path], { encoding: 'utf8', timeout: 60000 });
      const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
      if (run.status === 0 || run.status === 1) {
        inloopValid = run.status === 0;
        if (inloopValid !== expectValid) {
          reasons.push(`inloop says ${verdictName(inloopValid)}, corpus says ${verdictName(expectValid)}`);
          details.push(...firstLines(output, 5));
        }
      } else {
        const how = run.error ? run.error.message : `exit ${run.status ?? run.signal}`;
        reasons.push(`inloop validate failed (${how})`);
        details.push(...firstLines(output, 3));
        inloopValid = null;
      }
    }

    let resource = null;
    let parseError = null;
    try {
      resource = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      parseError = e.message;
    }
    const results = {
      medplum: parseError ? { valid: false, issues: [] } : validateWithMedplum(resource),
      fhirjs: parseError ? { valid: false, messages: [] } : validateWithFhirJs(fhir, resource),
    };
    for (const peer of kPeers) {
      const key = `${file}|${peer}`;
      const result = results[peer];
      if (inloopValid === null) continue;
      if (result.valid === inloopValid) {
        if (known.has(key)) stale.push(key);
        continue;
      }
      if (known.has(key)) continue;
      reasons.push(
        `${peer} says ${verdictName(result.valid)}${result.crashed ? ' (crashed)' : ''}, ` +
          `inloop${options.peersOnly ? ' (corpus)' : ''} says ${verdictName(inloopValid)}`,
      );
      details.push(...peerSummary(peer, result).map((s) => `      | ${s.slice(0, 200)}`));
    }

    if (reasons.length === 0) {
      passed++;
    } else {
      failed++;
      process.stdout.write(`FAIL ${file}\n`);
      for (const r of reasons) process.stdout.write(`    - ${r}\n`);
      for (const d of details) process.stdout.write(`${d}\n`);
    }
  }
  for (const key of stale) {
    process.stdout.write(`note: known difference ${key} no longer occurs; remove it\n`);
  }
  process.stdout.write(`cross-validate: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main();

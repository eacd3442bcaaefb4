#!/usr/bin/env node
// Checks docs/record-format.schema.json (JSON Schema draft 2020-12) with Ajv against
// record files: every file of a --good directory must pass, every file of a --bad
// directory must fail at the place its expected.json names.
//
// Usage: node check-record-schema.mjs --schema FILE [--good DIR]... [--bad DIR]...
//
// A --bad directory holds one record per *.json file plus expected.json, which maps
// each file name to the JSON Pointer (Ajv's instancePath form, "/medication/code";
// "" is the whole record) where the schema must report the problem, or to a list of
// them for a record that breaks several rules. A name may also be a path relative
// to the directory ("../bad/several-problems.json") for a record kept elsewhere.
// An error's place is its instancePath, extended by the property name for
// `required` (the missing member) and `additionalProperties` (the unknown member),
// so "missing recordId" is at "/recordId" as in the gateway's own `$.recordId`.
// A bad file passes when the schema rejects it, there is an error at every expected
// place, and every error is at, inside or above one of them (above: the applicators
// around it, allOf / if / oneOf); an error elsewhere means the file breaks a rule it
// is not meant to. A *.json file of the directory without an entry, or an entry
// without a file, is a failure.
//
// Prints one line per failing file with the reason, then exactly
//   N passed, M failed
// Exit status: 0 when nothing failed, 1 otherwise, 2 on usage or set-up errors
// (unreadable schema, schema that does not compile, missing directory).

import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

import Ajv2020 from 'ajv/dist/2020.js';

function usage(message) {
  if (message) process.stderr.write(`check-record-schema.mjs: ${message}\n`);
  process.stderr.write(
    'usage: node check-record-schema.mjs --schema FILE [--good DIR]... [--bad DIR]...\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const options = { schema: null, good: [], bad: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--schema') options.schema = resolve(value());
    else if (arg === '--good') options.good.push(resolve(value()));
    else if (arg === '--bad') options.bad.push(resolve(value()));
    else usage(`unknown argument ${arg}`);
  }
  if (!options.schema) usage('--schema is required');
  if (options.good.length + options.bad.length === 0) usage('give at least one --good or --bad');
  for (const dir of [...options.good, ...options.bad]) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) usage(`not a directory: ${dir}`);
  }
  return options;
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

// *.json records of a directory, sorted; expected.json is not a record.
function recordFiles(dir) {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'expected.json')
    .sort();
}

// Where an Ajv error is, as a JSON Pointer.
function placeOf(error) {
  const escape = (name) => String(name).replaceAll('~', '~0').replaceAll('/', '~1');
  if (error.keyword === 'required') return `${error.instancePath}/${escape(error.params.missingProperty)}`;
  if (error.keyword === 'additionalProperties') {
    return `${error.instancePath}/${escape(error.params.additionalProperty)}`;
  }
  return error.instancePath;
}

// True when `place` is `expected`, inside it, or one of its parents.
function related(place, expected) {
  const inside = (a, b) => a === b || a.startsWith(`${b}/`);
  return inside(place, expected) || inside(expected, place);
}

// One error in a line: place, keyword, and what was expected (a pattern by the
// schema path it comes from, not by its long regular expression).
function explain(e) {
  let what = e.message;
  if (e.keyword === 'pattern') what = `does not match ${e.schemaPath}`;
  if (e.keyword === 'enum') what = `not one of ${JSON.stringify(e.params.allowedValues)}`;
  return `${JSON.stringify(placeOf(e))} ${e.keyword}: ${what}`;
}

function describe(errors) {
  return errors.map(explain).join('; ');
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const shown = (path) => relative(process.cwd(), path) || path;

  let validate;
  try {
    // strict: the schema itself must not use unknown keywords or untyped applicators.
    // strictRequired is off: the if/then branches require members that the top-level
    // `properties` define.
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    validate = ajv.compile(readJson(options.schema));
  } catch (err) {
    process.stderr.write(`check-record-schema.mjs: ${shown(options.schema)}: ${err.message}\n`);
    process.exit(2);
  }

  let passed = 0;
  let failed = 0;
  const fail = (file, reason) => {
    failed++;
    process.stdout.write(`FAIL ${shown(file)}: ${reason}\n`);
  };

  // The parsed record, or undefined (reported) when the file is not JSON.
  const readRecord = (file) => {
    try {
      return readJson(file);
    } catch (err) {
      fail(file, `not JSON: ${err.message}`);
      return undefined;
    }
  };

  for (const dir of options.good) {
    const names = recordFiles(dir);
    if (names.length === 0) fail(dir, 'no records in this directory');
    for (const name of names) {
      const file = join(dir, name);
      const record = readRecord(file);
      if (record === undefined) continue;
      if (validate(record)) {
        passed++;
      } else {
        fail(file, `a good record is rejected: ${describe(validate.errors)}`);
      }
    }
  }

  for (const dir of options.bad) {
    const expectedFile = join(dir, 'expected.json');
    if (!existsSync(expectedFile)) {
      fail(dir, 'no expected.json');
      continue;
    }
    const expected = readJson(expectedFile);
    const names = recordFiles(dir);
    if (names.length === 0) fail(dir, 'no records in this directory');
    for (const name of names) {
      if (!(name in expected)) fail(join(dir, name), 'not listed in expected.json');
    }
    for (const [name, want] of Object.entries(expected)) {
      const file = join(dir, name);
      const places = typeof want === 'string' ? [want] : want;
      if (!Array.isArray(places) || places.length === 0 || places.some((p) => typeof p !== 'string')) {
        fail(file, 'expected.json gives no place (a JSON Pointer or a list of them)');
        continue;
      }
      if (!existsSync(file)) {
        fail(expectedFile, `lists ${name}, which does not exist`);
        continue;
      }
      const record = readRecord(file);
      if (record === undefined) continue;
      if (validate(record)) {
        fail(file, `a bad record is accepted (expected errors at ${JSON.stringify(places)})`);
        continue;
      }
      const errors = validate.errors;
      const found = new Set(errors.map(placeOf));
      const missing = places.filter((p) => !found.has(p));
      if (missing.length > 0) {
        fail(file, `no error at ${JSON.stringify(missing)}; got ${describe(errors)}`);
        continue;
      }
      const stray = errors.filter((e) => !places.some((p) => related(placeOf(e), p)));
      if (stray.length > 0) {
        fail(file, `errors outside ${JSON.stringify(places)}: ${describe(stray)}`);
        continue;
      }
      passed++;
    }
  }

  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main();

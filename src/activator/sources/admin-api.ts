// The revisions HTTP API on the activator's admin port: what the local scaler and any external controller
// call to tell the activator about revisions and their sidecar endpoints.
//
//   GET    /revisions                     200 {"revisions": [spec, ...]} (sorted by namespace/name)
//   GET    /revisions/{namespace}/{name}  200 spec | 404
//   PUT    /revisions/{namespace}/{name}  body {"endpoints": [...], "notReadyEndpoints"?, "containerConcurrency"?,
//                                         "hosts"?, "timeoutSeconds"?, "lbPolicy"?}; replaces the revision -> 200 spec
//   DELETE /revisions/{namespace}/{name}  204 | 404
//
// Errors are JSON `{"error": "...", "code": "SLUICE_ERR_..."}` (validation errors add `"problems": [...]`,
// one per field). The handler only answers paths under /revisions and returns false for anything else,
// so the admin server serves its own paths around it.
//
// The API can point a revision's traffic at any address, so it is guarded three ways (see docs/activator.md,
// "Admin API security"): the CLI binds the admin port to loopback unless told otherwise
// (--admin-host); with `auth` every /revisions request must carry `Authorization: Bearer <token>`
// (401 SLUICE_ERR_ADMIN_UNAUTHORIZED otherwise, checked before anything else, GETs included); and
// with `readOnlyReason` (revisions come from a file or from Kubernetes) PUT and DELETE answer 405
// SLUICE_ERR_ADMIN_READ_ONLY, so nothing reachable over HTTP can override what the source says.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../shared/errors.ts'
import type { RevisionSourceKind } from '../../config/activator-config.ts'
import { SluiceError } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import { revisionKey, type RevisionSink, type RevisionSource, type RevisionSpec } from '../revision-spec.ts'
import type { AdminAuth } from './admin-token-file.ts'
import { isRecord } from '../../shared/is-record.ts'
import { dns1123LabelProblem, parseRevisionSpec } from './revision-validation.ts'

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
export const REVISIONS_PATH = '/revisions'
const ITEM_PREFIX = REVISIONS_PATH + '/'
const ALLOW_LIST = 'GET, HEAD'
const ALLOW_ITEM = 'GET, HEAD, PUT, DELETE'
const ALLOW_READ_ONLY = 'GET, HEAD'
/** RFC 6750: a 401 names the scheme it wants. */
const WWW_AUTHENTICATE = 'Bearer realm="sluice-activator"'
const JSON_TYPE = 'application/json; charset=utf-8'

export interface RevisionsAdminOptions {
  /** PUT bodies above this size get 413. */
  readonly maxBodyBytes?: number
  /** Checks each request's Authorization header; null/absent = no token required (loopback use). */
  readonly auth?: AdminAuth | null
  /** Why writes are refused (e.g. "revisions come from --source kubernetes"); null/absent = writable. */
  readonly readOnlyReason?: string | null
}

/**
 * Why the API must not write with this source: only --source api takes writes, so a PUT can never
 * override what a revisions file or the cluster says. null = writable.
 */
export function readOnlyReasonFor (source: RevisionSourceKind): string | null {
  return source === 'api' ? null : `revisions come from --source ${source}`
}

/** Handles the request and returns true when the path is under /revisions; false leaves it to the caller. */
export type AdminRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean

export function createRevisionsAdminHandler (sink: RevisionSink, logger: Logger, opts: RevisionsAdminOptions = {}): AdminRequestHandler {
  const api = new RevisionsAdminApi(sink, logger.child({ component: 'revisions-api' }), opts)
  return api.handle
}

/**
 * The admin API as a RevisionSource, so the CLI can start and close every source alike. start() only
 * remembers the sink; `handle` (bound, pass it around as a function) answers 503 before start() and after
 * close(), and returns false for paths outside /revisions.
 */
export class AdminApiSource implements RevisionSource {
  readonly #logger: Logger
  readonly #opts: RevisionsAdminOptions
  #handler: AdminRequestHandler | null = null

  constructor (logger: Logger, opts: RevisionsAdminOptions = {}) {
    this.#logger = logger
    this.#opts = opts
    this.handle = this.handle.bind(this)
  }

  async start (sink: RevisionSink): Promise<void> {
    this.#handler = createRevisionsAdminHandler(sink, this.#logger, this.#opts)
  }

  async close (): Promise<void> {
    this.#handler = null
  }

  handle (req: IncomingMessage, res: ServerResponse): boolean {
    if (this.#handler !== null) return this.#handler(req, res)
    if (!isRevisionsPath(pathOf(req))) return false
    sendError(res, 503, ANSWER_CODES.adminNotStarted, 'revisions API is not available (starting or shutting down)')
    return true
  }
}

class RevisionsAdminApi {
  readonly #sink: RevisionSink
  readonly #logger: Logger
  readonly #maxBodyBytes: number
  readonly #auth: AdminAuth | null
  readonly #readOnlyReason: string | null

  constructor (sink: RevisionSink, logger: Logger, opts: RevisionsAdminOptions) {
    this.#sink = sink
    this.#logger = logger
    this.#maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    this.#auth = opts.auth ?? null
    this.#readOnlyReason = opts.readOnlyReason ?? null
    this.handle = this.handle.bind(this)
  }

  handle (req: IncomingMessage, res: ServerResponse): boolean {
    const path = pathOf(req)
    if (!isRevisionsPath(path)) return false
    const method = req.method ?? 'GET'
    if (this.#auth !== null && !this.#auth.verify(req.headers.authorization)) {
      this.#unauthorized(req, res, method, path)
      return true
    }

    if (path === REVISIONS_PATH) {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(req, res, ALLOW_LIST)
      const revisions = [...this.#sink.list()].sort(compareSpecs)
      sendJson(res, 200, { revisions })
      return true
    }

    const parts = path.slice(ITEM_PREFIX.length).split('/')
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      discardBody(req)
      sendError(res, 404, ANSWER_CODES.adminRouteNotFound, `no route ${path}: use ${REVISIONS_PATH} or ${REVISIONS_PATH}/{namespace}/{name}`)
      return true
    }
    const namespace = decodeSegment(parts[0])
    const name = decodeSegment(parts[1])
    if (this.#readOnlyReason !== null && method !== 'GET' && method !== 'HEAD') {
      this.#readOnly(req, res, method, namespace, name, this.#readOnlyReason)
      return true
    }
    switch (method) {
      case 'GET':
      case 'HEAD':
        if (this.#rejectBadPath(req, res, namespace, name)) return true
        this.#get(res, namespace, name)
        return true
      case 'DELETE':
        if (this.#rejectBadPath(req, res, namespace, name)) return true
        this.#delete(res, namespace, name)
        return true
      case 'PUT':
        this.#put(req, res, namespace, name)
        return true
      default:
        return methodNotAllowed(req, res, ALLOW_ITEM)
    }
  }

  #unauthorized (req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    discardBody(req)
    const hasHeader = req.headers.authorization !== undefined
    this.#logger.warn({ method, path, remoteAddress: req.socket.remoteAddress ?? null, hasAuthorization: hasHeader }, 'revisions API: request refused: missing or wrong bearer token')
    res.setHeader('www-authenticate', WWW_AUTHENTICATE)
    sendError(res, 401, ANSWER_CODES.adminUnauthorized, hasHeader
      ? 'the bearer token does not match --admin-token-file'
      : 'this revisions API needs "Authorization: Bearer <token>" (the token in the activator\'s --admin-token-file)')
  }

  #readOnly (req: IncomingMessage, res: ServerResponse, method: string, namespace: string, name: string, reason: string): void {
    discardBody(req)
    this.#logger.warn({ method, revision: revisionKey(namespace, name), remoteAddress: req.socket.remoteAddress ?? null }, 'revisions API: write refused: read-only')
    res.setHeader('allow', ALLOW_READ_ONLY)
    sendError(res, 405, ANSWER_CODES.adminReadOnly, `revisions are read-only here: ${reason}; ${method} is refused (only --source api accepts writes)`)
  }

  #get (res: ServerResponse, namespace: string, name: string): void {
    const spec = this.#find(namespace, name)
    if (spec === null) {
      sendError(res, 404, ANSWER_CODES.revisionNotFound, `revision not found: ${revisionKey(namespace, name)}`)
      return
    }
    sendJson(res, 200, spec)
  }

  #delete (res: ServerResponse, namespace: string, name: string): void {
    const key = revisionKey(namespace, name)
    if (this.#find(namespace, name) === null) {
      sendError(res, 404, ANSWER_CODES.revisionNotFound, `revision not found: ${key}`)
      return
    }
    try {
      this.#sink.remove(namespace, name)
    } catch (err) {
      this.#sinkFailed(res, err, key)
      return
    }
    this.#logger.info({ revision: key }, 'revision deleted')
    res.writeHead(204)
    res.end()
  }

  #put (req: IncomingMessage, res: ServerResponse, namespace: string, name: string): void {
    readBody(req, res, this.#maxBodyBytes, (body) => {
      let value: unknown
      try {
        value = JSON.parse(body.toString('utf8'))
      } catch (err) {
        sendError(res, 400, ANSWER_CODES.adminInvalidJson, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`)
        return
      }
      this.#putParsed(res, namespace, name, value)
    })
  }

  #putParsed (res: ServerResponse, namespace: string, name: string, value: unknown): void {
    if (!isRecord(value)) {
      sendError(res, 400, ANSWER_CODES.adminInvalidRevision, 'body: expected a JSON object')
      return
    }
    // The path names the revision; the body may repeat it, but not contradict it.
    const problems: string[] = []
    if (value.namespace !== undefined && value.namespace !== namespace) {
      problems.push(`namespace: ${JSON.stringify(value.namespace)} does not match the path (${JSON.stringify(namespace)})`)
    }
    if (value.name !== undefined && value.name !== name) {
      problems.push(`name: ${JSON.stringify(value.name)} does not match the path (${JSON.stringify(name)})`)
    }
    const result = parseRevisionSpec({ ...value, namespace, name }, '', { endpointsRequired: true })
    if ('problems' in result || problems.length > 0) {
      const all = 'problems' in result ? [...problems, ...result.problems] : problems
      sendError(res, 400, ANSWER_CODES.adminInvalidRevision, all.join('; '), all)
      return
    }
    const spec = result.spec
    const key = revisionKey(namespace, name)
    const conflicts = this.#hostConflicts(spec, key)
    if (conflicts.length > 0) {
      sendError(res, 409, ANSWER_CODES.adminHostConflict, conflicts.join('; '), conflicts)
      return
    }
    try {
      this.#sink.upsert(spec)
    } catch (err) {
      this.#sinkFailed(res, err, key)
      return
    }
    this.#logger.info({ revision: key, endpoints: spec.endpoints.length, containerConcurrency: spec.containerConcurrency }, 'revision put')
    sendJson(res, 200, spec)
  }

  /** A Host may route to one revision only. */
  #hostConflicts (spec: RevisionSpec, key: string): string[] {
    if (spec.hosts.length === 0) return []
    const owners = new Map<string, string>()
    for (const other of this.#sink.list()) {
      const otherKey = revisionKey(other.namespace, other.name)
      if (otherKey === key) continue
      for (const host of other.hosts) owners.set(host, otherKey)
    }
    const conflicts: string[] = []
    for (let i = 0; i < spec.hosts.length; i++) {
      const owner = owners.get(spec.hosts[i])
      if (owner !== undefined) conflicts.push(`hosts[${i}]: ${JSON.stringify(spec.hosts[i])} is already routed to ${owner}`)
    }
    return conflicts
  }

  #find (namespace: string, name: string): RevisionSpec | null {
    for (const spec of this.#sink.list()) {
      if (spec.namespace === namespace && spec.name === name) return spec
    }
    return null
  }

  /** GET and DELETE name the revision only in the path; a malformed name is a 400, not a 404. */
  #rejectBadPath (req: IncomingMessage, res: ServerResponse, namespace: string, name: string): boolean {
    const problems: string[] = []
    const nsProblem = dns1123LabelProblem(namespace)
    if (nsProblem !== null) problems.push(`namespace: ${nsProblem}`)
    const nameProblem = dns1123LabelProblem(name)
    if (nameProblem !== null) problems.push(`name: ${nameProblem}`)
    if (problems.length === 0) return false
    discardBody(req)
    sendError(res, 400, ANSWER_CODES.adminInvalidRevision, problems.join('; '), problems)
    return true
  }

  #sinkFailed (res: ServerResponse, err: unknown, key: string): void {
    this.#logger.error({ err, revision: key }, 'revision sink failed')
    if (err instanceof SluiceError && err.statusCode >= 400 && err.statusCode < 500) {
      sendError(res, err.statusCode, err.code, err.message)
      return
    }
    sendError(res, 500, ANSWER_CODES.adminInternal, 'internal error')
  }
}

/**
 * Buffers the body up to maxBytes, then calls onBody. Over the limit (declared or streamed) it answers
 * 413 with `Connection: close` and stops buffering. Control plane: closures per request are fine here.
 */
function readBody (req: IncomingMessage, res: ServerResponse, maxBytes: number, onBody: (body: Buffer) => void): void {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > maxBytes) {
    tooLarge(req, res, maxBytes)
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  let failed = false
  req.on('data', (chunk: Buffer) => {
    if (failed) return
    size += chunk.length
    if (size > maxBytes) {
      failed = true
      chunks.length = 0
      tooLarge(req, res, maxBytes)
      return
    }
    chunks.push(chunk)
  })
  req.on('end', () => {
    if (!failed) onBody(Buffer.concat(chunks, size))
  })
  // A client that goes away mid-body: nothing to answer.
  req.on('error', () => {})
}

function tooLarge (req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  res.setHeader('connection', 'close')
  sendError(res, 413, ANSWER_CODES.adminBodyTooLarge, `request body larger than ${maxBytes} bytes`)
  // Keep reading (and dropping) what is already on the way, so closing does not reset the connection
  // before the client has read the 413.
  req.resume()
}

function methodNotAllowed (req: IncomingMessage, res: ServerResponse, allow: string): true {
  discardBody(req)
  res.setHeader('allow', allow)
  sendError(res, 405, ANSWER_CODES.adminMethodNotAllowed, `method ${req.method ?? ''} not allowed; allowed: ${allow}`)
  return true
}

function discardBody (req: IncomingMessage): void {
  req.resume()
}

function sendError (res: ServerResponse, status: number, code: string, error: string, problems?: readonly string[]): void {
  sendJson(res, status, problems === undefined ? { error, code } : { error, code, problems }, code)
}

function sendJson (res: ServerResponse, status: number, value: unknown, errorCode: string | null = null): void {
  if (res.headersSent) return
  const body = JSON.stringify(value) + '\n'
  const headers: Record<string, string | number> = { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' }
  if (errorCode !== null) headers[ERROR_CODE_HEADER] = errorCode
  res.writeHead(status, headers)
  res.end(body)
}

function pathOf (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function isRevisionsPath (path: string): boolean {
  return path === REVISIONS_PATH || path.startsWith(ITEM_PREFIX)
}

/** Percent-decoded path segment; a malformed escape is kept as written (validation then rejects it). */
function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

function compareSpecs (a: RevisionSpec, b: RevisionSpec): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1
  if (a.name !== b.name) return a.name < b.name ? -1 : 1
  return 0
}

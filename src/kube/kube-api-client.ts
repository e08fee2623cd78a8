// The little of a Kubernetes API client the activator needs: GET a list as raw JSON and stream a
// watch, for any group (core /api/v1 included), authenticated as a kubeconfig or the pod's service
// account says (kube-config.ts). It replaced @kubernetes/client-node, whose import cost ~82 MB of RSS
// and 0.5-0.9 s of start (issue 12).
//
// node:http and node:https come from process.getBuiltinModule: an ESM `import` of them on Node 24
// also loads http2, tls, crypto and zlib at once (loadtest/results/memory-findings-2026-12-06.md); this
// way only what the server's scheme needs is loaded, when the first client is made.
//
// Credentials, per request: a bearer token (static, or a file re-read every minute: kube-token-file.ts),
// basic auth, a client certificate (on the agent), or an exec plugin's token or certificate
// (kube-exec-credential.ts; a 401 drops it and the request is sent once more with a fresh one).

import type { Agent as HttpAgent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http'
import { realClock, type Clock } from '../shared/clock.ts'
import { KubeApiError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type Timers } from '../shared/timers.ts'
import type { KubeRestConfig } from './kube-config.ts'
import { ExecCredentialPlugin, type ExecCredential } from './kube-exec-credential.ts'
import { KubeTokenFile } from './kube-token-file.ts'
import { WatchDecoder, type WatchEventHandler } from './kube-watch-decoder.ts'

/** A list request that has not been answered by then fails (and is retried with backoff). */
export const LIST_TIMEOUT_MS = 60_000
/** Lists are paged (500 objects a page); a page bigger than this is refused, never buffered. */
export const MAX_LIST_BODY_BYTES = 64 << 20
/**
 * Keep-alive sockets idle this long are closed by us, before the API server (or a load balancer in
 * front of it) closes them under a request we would be sending: a relist reuses a socket minutes later.
 */
const IDLE_SOCKET_MS = 30_000
/** Error bodies are Status objects; only this much is read. */
const MAX_ERROR_BODY_BYTES = 64 << 10
/** TLS verification failures: their message alone ("unable to verify the first certificate") hides the cause. */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
])

export interface KubeApiClientOptions {
  readonly config: KubeRestConfig
  readonly logger: Logger
  /** e.g. sluice-activator/1.2.3. */
  readonly userAgent?: string
  /** The environment an exec plugin inherits (the CLI passes the process's). */
  readonly execEnv?: Readonly<Record<string, string | undefined>>
  readonly clock?: Clock
  readonly timers?: Timers
  readonly listTimeoutMs?: number
}

export interface WatchRequest {
  readonly handler: WatchEventHandler
  readonly signal: AbortSignal
  /** No byte for this long (the server's timeoutSeconds passed long ago): the watch ends as if closed. */
  readonly idleTimeoutMs: number
}

type HttpModule = typeof import('node:http') | typeof import('node:https')

export class KubeApiClient {
  readonly #config: KubeRestConfig
  readonly #logger: Logger
  readonly #userAgent: string
  readonly #listTimeoutMs: number
  readonly #module: HttpModule
  readonly #isTls: boolean
  readonly #hostname: string
  readonly #port: string
  /** The server URL's path, without a trailing slash: prefixed to every API path. */
  readonly #pathPrefix: string
  readonly #origin: string
  readonly #tokenFile: KubeTokenFile | null
  readonly #basic: string | null
  readonly #exec: ExecCredentialPlugin | null
  #agent: HttpAgent
  /** The exec credential the agent carries as its client certificate (null: the config's, or none). */
  #agentCredential: ExecCredential | null = null
  /** The agent before the last certificate change: its watches may still run; closed on the next change. */
  #retiredAgent: HttpAgent | null = null

  constructor (opts: KubeApiClientOptions) {
    const config = opts.config
    this.#config = config
    this.#logger = opts.logger
    this.#userAgent = opts.userAgent ?? 'sluice-activator'
    this.#listTimeoutMs = opts.listTimeoutMs ?? LIST_TIMEOUT_MS
    const url = new URL(config.host)
    this.#isTls = url.protocol === 'https:'
    this.#module = this.#isTls ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http')
    // URL keeps IPv6 brackets in hostname; the socket wants the bare address.
    this.#hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    this.#port = url.port
    this.#pathPrefix = url.pathname.replace(/\/+$/, '')
    this.#origin = url.origin
    this.#tokenFile = config.bearerTokenFile === ''
      ? null
      : new KubeTokenFile({ path: config.bearerTokenFile, initial: config.bearerToken, logger: opts.logger, clock: opts.clock })
    this.#basic = config.username === '' && config.password === ''
      ? null
      : 'Basic ' + Buffer.from(`${config.username}:${config.password}`).toString('base64')
    // client-go's exec authenticator stands aside when the user has a token, basic auth or a client
    // certificate of its own (UpdateTransportConfig): the plugin is not run at all then.
    const hasOwnCredentials = config.bearerToken !== '' || config.bearerTokenFile !== '' || config.username !== '' ||
      (config.certData !== '' && config.keyData !== '')
    this.#exec = config.exec === null || hasOwnCredentials
      ? null
      : new ExecCredentialPlugin({
        exec: config.exec,
        cluster: config,
        baseEnv: opts.execEnv ?? {},
        logger: opts.logger,
        clock: opts.clock ?? realClock,
        timers: opts.timers ?? realTimers,
      })
    this.#agent = this.#makeAgent(null)
  }

  /** The exec plugin, when the kubeconfig has one (tests: how often it ran). */
  get execPlugin (): ExecCredentialPlugin | null { return this.#exec }

  /** GET `path` (e.g. /api/v1/services) and parse the JSON body; rejects with KubeApiError. */
  async getJson (path: string, query: URLSearchParams, signal: AbortSignal): Promise<unknown> {
    const res = await this.#send(path, query, signal, this.#listTimeoutMs)
    const status = res.statusCode ?? 0
    if (status < 200 || status > 299) throw await errorFromResponse(res)
    const body = await readBody(res, MAX_LIST_BODY_BYTES)
    if (body === null) throw new KubeApiError(`GET ${path}: the answer is larger than ${MAX_LIST_BODY_BYTES} bytes`, status)
    try {
      return JSON.parse(body)
    } catch (err) {
      throw new KubeApiError(`GET ${path}: the answer is not JSON`, status, { cause: err })
    }
  }

  /**
   * Opens a watch on `path` and hands each event to the handler until the server ends it (resolves) or
   * it breaks (rejects with KubeApiError: an error status, a reset, a malformed line). An abort
   * through `signal` rejects with the abort reason.
   */
  async watch (path: string, query: URLSearchParams, req: WatchRequest): Promise<void> {
    // The head within the list timeout (a server that accepts and never answers is noticed then, not
    // after a whole watch period); then the body's idle timeout.
    const res = await this.#send(path, query, req.signal, req.idleTimeoutMs, Math.min(this.#listTimeoutMs, req.idleTimeoutMs))
    const status = res.statusCode ?? 0
    if (status !== 200) throw await errorFromResponse(res)
    const decoder = new WatchDecoder()
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        res.destroy()
        reject(err)
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return
        const err = decoder.push(chunk, req.handler)
        if (err !== null) fail(err)
      })
      res.on('end', () => {
        if (settled) return
        const err = decoder.end(req.handler)
        if (err !== null) { fail(err); return }
        settled = true
        resolve()
      })
      res.on('error', (err) => { fail(req.signal.aborted ? abortReason(req.signal) : streamError(err)) })
      res.on('close', () => {
        if (!settled) fail(req.signal.aborted ? abortReason(req.signal) : new KubeApiError('watch stream closed before its end (the API server went away)', null))
      })
    })
  }

  /** Closes idle keep-alive sockets (and any still open); the client is unusable after. */
  close (): void {
    this.#agent.destroy()
    this.#retiredAgent?.destroy()
  }

  /** `headTimeoutMs`: until the response head (default `timeoutMs`); `timeoutMs`: silence after it. */
  async #send (path: string, query: URLSearchParams, signal: AbortSignal, timeoutMs: number, headTimeoutMs = timeoutMs): Promise<IncomingMessage> {
    let credential = this.#exec === null ? null : await this.#exec.credential()
    let res = await this.#request(path, query, signal, timeoutMs, headTimeoutMs, credential)
    if (res.statusCode === 401 && this.#exec !== null && credential !== null) {
      // client-go refreshes exec credentials on a 401; we also resend once, so a rotated token
      // costs one round trip rather than a failed list and a backoff.
      // Drained, not read: a reset meanwhile must not be an unhandled 'error'.
      res.on('error', ignoreError)
      res.resume()
      this.#exec.invalidate(credential)
      credential = await this.#exec.credential()
      this.#logger.info('kubernetes: 401 with the exec plugin\'s credential; ran the plugin again')
      res = await this.#request(path, query, signal, timeoutMs, headTimeoutMs, credential)
    }
    return res
  }

  #request (path: string, query: URLSearchParams, signal: AbortSignal, timeoutMs: number, headTimeoutMs: number, credential: ExecCredential | null): Promise<IncomingMessage> {
    const qs = query.toString()
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent }
    const authorization = this.#authorization(credential)
    if (authorization !== null) headers.authorization = authorization
    const options: RequestOptions = {
      agent: this.#agentFor(credential),
      hostname: this.#hostname,
      port: this.#port,
      method: 'GET',
      path: this.#pathPrefix + path + (qs === '' ? '' : '?' + qs),
      headers,
    }
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) { reject(abortReason(signal)); return }
      let response: IncomingMessage | null = null
      const req: ClientRequest = this.#module.request(options, (res) => {
        response = res
        if (headTimeoutMs !== timeoutMs) req.setTimeout(timeoutMs)
        resolve(res)
      })
      // Not http.request's `signal` option: it destroys the socket *with* an AbortError, and when the
      // response has just completed the socket is between owners (no 'error' listener: an uncaught
      // exception; seen when a watch is aborted from its own data handler). Destroyed without an
      // error, the request or response reports a reset, which the listeners turn into the abort reason.
      const onAbort = (): void => { req.destroy() }
      signal.addEventListener('abort', onAbort, { once: true })
      req.once('close', () => { signal.removeEventListener('abort', onAbort) })
      req.setTimeout(headTimeoutMs, () => {
        // Silent that long: before the head, the request fails; mid-body (a watch), the response does.
        const err = new KubeApiError(`GET ${path}: no answer from ${this.#origin} within ${response === null ? headTimeoutMs : timeoutMs} ms`, null)
        if (response === null) req.destroy(err)
        else response.destroy(err)
      })
      req.on('error', (err) => {
        reject(signal.aborted ? abortReason(signal) : err instanceof KubeApiError ? err : this.#connectError(err))
      })
      req.end()
    })
  }

  /** Only over TLS, as client-go: a plain http:// server (kubectl proxy) gets no credentials. */
  #authorization (credential: ExecCredential | null): string | null {
    if (!this.#isTls) return null
    if (credential !== null && credential.token !== '') return `Bearer ${credential.token}`
    if (this.#tokenFile !== null) return `Bearer ${this.#tokenFile.token()}`
    if (this.#config.bearerToken !== '') return `Bearer ${this.#config.bearerToken.trim()}`
    return this.#basic
  }

  #agentFor (credential: ExecCredential | null): HttpAgent {
    if (credential === null || credential.certData === '') return this.#agent
    const carried = this.#agentCredential
    if (carried !== null && carried.certData === credential.certData && carried.keyData === credential.keyData) return this.#agent
    this.#retiredAgent?.destroy()
    this.#retiredAgent = this.#agent
    this.#agent = this.#makeAgent(credential)
    this.#agentCredential = credential
    return this.#agent
  }

  #makeAgent (credential: ExecCredential | null): HttpAgent {
    // `timeout` is the idle timeout of pooled sockets; a request in flight sets its own (#request).
    if (!this.#isTls) return new (process.getBuiltinModule('node:http').Agent)({ keepAlive: true, timeout: IDLE_SOCKET_MS })
    const c = this.#config
    const cert = credential !== null && credential.certData !== '' ? credential.certData : c.certData
    const key = credential !== null && credential.keyData !== '' ? credential.keyData : c.keyData
    return new (process.getBuiltinModule('node:https').Agent)({
      keepAlive: true,
      timeout: IDLE_SOCKET_MS,
      ca: c.caData === '' ? undefined : c.caData,
      cert: cert === '' ? undefined : cert,
      key: key === '' ? undefined : key,
      rejectUnauthorized: !c.insecure,
      // tls-server-name: the SNI and the name the certificate is checked against (Node checks servername).
      servername: c.serverName === '' ? undefined : c.serverName,
    })
  }

  #connectError (err: Error): KubeApiError {
    const code = 'code' in err && typeof err.code === 'string' ? err.code : ''
    if (TLS_VERIFY_CODES.has(code)) {
      // Node's own text ends with a hint (--use-system-ca) that is wrong here: the CA is the kubeconfig's.
      const detail = err.message.split(';')[0]
      return new KubeApiError(`cannot reach ${this.#origin}: the API server's certificate does not verify against the configured CA or tls-server-name (${code}: ${detail})`, null, { cause: err })
    }
    const suffix = code !== '' && !err.message.includes(code) ? ` (${code})` : ''
    return new KubeApiError(`cannot reach ${this.#origin}: ${err.message}${suffix}`, null, { cause: err })
  }
}

/** A non-2xx answer: its Status message when it is one. */
async function errorFromResponse (res: IncomingMessage): Promise<KubeApiError> {
  const status = res.statusCode ?? 0
  const body = await readBody(res, MAX_ERROR_BODY_BYTES).catch(() => null)
  let message: string | null = null
  if (body !== null) {
    try {
      const parsed: unknown = JSON.parse(body)
      if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string') message = parsed.message
    } catch {}
  }
  return new KubeApiError(message === null ? `HTTP ${status}` : `HTTP ${status}: ${message}`, status)
}

/** The body as text, or null past maxBytes (the response is then destroyed). */
function readBody (res: IncomingMessage, maxBytes: number): Promise<string | null> {
  return new Promise<string | null>((resolve, reject) => {
    const parts: Buffer[] = []
    let bytes = 0
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes > maxBytes) {
        res.destroy()
        resolve(null)
        return
      }
      parts.push(chunk)
    })
    res.on('end', () => { resolve(Buffer.concat(parts).toString('utf8')) })
    res.on('error', (err) => { reject(streamError(err)) })
    res.on('close', () => {
      if (!res.complete && bytes <= maxBytes) reject(new KubeApiError('the API server closed the connection mid-answer', null))
    })
  })
}

function streamError (err: Error): KubeApiError {
  return err instanceof KubeApiError ? err : new KubeApiError(`watch stream broke: ${err.message}`, null, { cause: err })
}

function ignoreError (): void {}

function abortReason (signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted')
}

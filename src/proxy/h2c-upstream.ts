import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { UpstreamConnectionError } from '../shared/errors.ts'
import { H2cUpstreamRequest } from './h2c-upstream-request.ts'
import type { SecureAddress, SecureDialer } from './secure-dialer.ts'
import type { Upstream } from './upstream.ts'

// HTTP/2 with prior knowledge (h2c) to one origin: the sidecar's user container (gRPC and other h2c
// apps, asked of Knative since 2019, issue 4283), or an activator endpoint's sidecar for requests
// that came in over HTTP/2 (Knative's activator picks its h2c transport when r.ProtoMajor == 2).
// undici's H2CClient drops response trailers, and gRPC's status lives in trailers, so this drives
// node:http2 directly behind the DispatchHandler callbacks the exchange already implements. One
// session carries every request (HTTP/2 multiplexes) and is re-opened when it closes or gets GOAWAY.

// node:http2's constants, written out: node:http2 itself is loaded when the first session opens
// (process.getBuiltinModule), so a sidecar that never sees HTTP/2 never loads it (issue 12).
const HTTP2_HEADER_METHOD = ':method'
const HTTP2_HEADER_PATH = ':path'
const HTTP2_HEADER_AUTHORITY = ':authority'
const HTTP2_HEADER_SCHEME = ':scheme'

/** Headers HTTP/2 forbids (RFC 9113 8.2.2); `te` is allowed only as `trailers`. */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host'])

export interface H2cUpstreamOptions {
  /** A session not connected after this long is dropped and its streams fail with UND_ERR_CONNECT_TIMEOUT; 0 = none. */
  readonly connectTimeoutMs?: number
  /**
   * HTTP/2 over TLS (ALPN h2) instead of h2c: the activator's HTTP/2 requests to a pod's TLS port
   * with system-internal-tls, as Knative's activator sends them. The origin's host stays the
   * `:authority`; the session dials `secure`'s address through its dialer.
   */
  readonly secure?: SecureAddress | null
}

const H2_ALPN: readonly string[] = Object.freeze(['h2'])

export class H2cUpstream implements Upstream {
  readonly #origin: string
  readonly #authority: string
  readonly #connectTimeoutMs: number
  readonly #secure: SecureAddress | null
  readonly #dialer: SecureDialer | null
  readonly #scheme: string
  #session: ClientHttp2Session | null
  #isClosed: boolean

  constructor (origin: string, options: H2cUpstreamOptions = {}) {
    this.#origin = origin
    this.#authority = new URL(origin).host
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 0
    this.#secure = options.secure ?? null
    this.#dialer = this.#secure === null ? null : this.#secure.dialer
    this.#scheme = this.#secure === null ? 'http' : 'https'
    this.#session = null
    this.#isClosed = false
  }

  #getSession (): ClientHttp2Session {
    const s = this.#session
    if (s !== null && !s.closed && !s.destroyed) return s
    // Per session, not per request: these closures live as long as the connection.
    const secure = this.#secure
    const http2 = process.getBuiltinModule('node:http2')
    const session = secure === null
      ? http2.connect(this.#origin)
      : http2.connect(this.#origin, { createConnection: () => secure.dialer.connect(secure.host, secure.port, H2_ALPN) })
    let connectTimer: NodeJS.Timeout | null = null
    if (this.#connectTimeoutMs > 0) {
      connectTimer = setTimeout(() => {
        session.destroy(new UpstreamConnectionError('UND_ERR_CONNECT_TIMEOUT', 'connecting to the upstream timed out'))
      }, this.#connectTimeoutMs)
      connectTimer.unref()
    }
    session.once('connect', () => { if (connectTimer !== null) clearTimeout(connectTimer) })
    session.on('error', () => { /* surfaces on each stream */ })
    session.once('close', () => {
      if (connectTimer !== null) clearTimeout(connectTimer)
      if (this.#session === session) this.#session = null
    })
    session.once('goaway', () => { if (this.#session === session) this.#session = null })
    this.#session = session
    return session
  }

  dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#isClosed) {
      handler.onResponseError?.(CLOSED_CONTROLLER, new UpstreamConnectionError('UND_ERR_CLOSED', 'upstream client is closed'))
      return false
    }
    const headers: OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: options.method,
      [HTTP2_HEADER_PATH]: options.path,
      [HTTP2_HEADER_SCHEME]: this.#scheme,
      [HTTP2_HEADER_AUTHORITY]: this.#authority,
    }
    const list = options.headers
    if (Array.isArray(list)) {
      for (let i = 0; i < list.length; i += 2) {
        const name = String(list[i]).toLowerCase()
        const value = String(list[i + 1])
        if (name === 'host') { headers[HTTP2_HEADER_AUTHORITY] = value; continue }
        if (FORBIDDEN.has(name) || (name === 'te' && value !== 'trailers')) continue
        const prev = headers[name]
        if (prev === undefined) headers[name] = value
        else if (Array.isArray(prev)) prev.push(value)
        else headers[name] = [String(prev), value]
      }
    }
    const body = options.body
    const hasBody = body !== null && body !== undefined
    const isBuffered = typeof body === 'string' || body instanceof Uint8Array
    let request: H2cUpstreamRequest
    try {
      const stream = this.#getSession().request(headers, { endStream: !hasBody })
      request = new H2cUpstreamRequest(stream, handler, hasBody && !isBuffered ? body as Readable : null, this.#dialer)
    } catch (err) {
      // The session went away between the check and the request (ERR_HTTP2_INVALID_SESSION, GOAWAY).
      handler.onResponseError?.(CLOSED_CONTROLLER, new UpstreamConnectionError('UND_ERR_SOCKET', 'upstream session closed', { cause: err }))
      return false
    }
    handler.onRequestStart?.(request, {})
    if (isBuffered) request.stream.end(body)
    return true
  }

  /** No new requests; resolves once the streams in flight finished and the session closed. */
  close (): Promise<void> {
    this.#isClosed = true
    const s = this.#session
    this.#session = null
    if (s === null || s.destroyed) return Promise.resolve()
    // once('close') rather than close(callback): a session already closing would never call it.
    return new Promise((resolve) => { s.once('close', () => { resolve() }); s.close() })
  }
}

/** For failures before a stream exists: nothing to pause or abort. */
const CLOSED_CONTROLLER: Dispatcher.DispatchController = Object.freeze({
  aborted: true,
  paused: false,
  reason: null,
  abort (): void {},
  pause (): void {},
  resume (): void {},
})

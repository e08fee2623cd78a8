import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Upstream } from './upstream.ts'

// HTTP/2 with prior knowledge (h2c) to the user container, for gRPC and other h2c apps
// (asked of Knative since 2019, issue 4283). undici's H2CClient drops response trailers,
// and gRPC's status lives in trailers, so this drives node:http2 directly behind the same
// DispatchHandler callbacks the exchange already implements. One session is shared by all
// requests (HTTP/2 multiplexes) and re-opened when it closes.

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_SCHEME } = constants

/** Headers HTTP/2 forbids (RFC 9113 8.2.2); `te` is allowed only as `trailers`. */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host'])

class H2Controller implements Dispatcher.DispatchController {
  readonly stream: ClientHttp2Stream
  #aborted = false
  #paused = false
  #reason: Error | null = null
  constructor (stream: ClientHttp2Stream) { this.stream = stream }
  get aborted (): boolean { return this.#aborted }
  get paused (): boolean { return this.#paused }
  get reason (): Error | null { return this.#reason }
  abort (reason: Error): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.stream.close(constants.NGHTTP2_CANCEL)
  }

  pause (): void { this.#paused = true; this.stream.pause() }
  resume (): void { this.#paused = false; this.stream.resume() }
}

function toResponseHeaders (headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {}
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* ':' */) out[name] = headers[name]
  return out
}

export class H2cUpstream implements Upstream {
  readonly #origin: string
  readonly #authority: string
  #session: ClientHttp2Session | null = null

  constructor (origin: string) {
    this.#origin = origin
    this.#authority = new URL(origin).host
  }

  #getSession (): ClientHttp2Session {
    const s = this.#session
    if (s !== null && !s.closed && !s.destroyed) return s
    const session = connect(this.#origin)
    session.on('error', () => { /* surfaces on each stream */ })
    session.on('close', () => { if (this.#session === session) this.#session = null })
    session.on('goaway', () => { if (this.#session === session) this.#session = null })
    this.#session = session
    return session
  }

  dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const headers: OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: options.method,
      [HTTP2_HEADER_PATH]: options.path,
      [HTTP2_HEADER_SCHEME]: 'http',
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
        headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value]
      }
    }
    const body = options.body
    let stream: ClientHttp2Stream
    try {
      stream = this.#getSession().request(headers, { endStream: body === null || body === undefined })
    } catch (err) {
      const controller = { aborted: true, paused: false, reason: null, abort () {}, pause () {}, resume () {} }
      handler.onResponseError?.(controller, err instanceof Error ? err : new Error(String(err)))
      return false
    }
    const controller = new H2Controller(stream)
    handler.onRequestStart?.(controller, {})
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      handler.onResponseError?.(controller, err)
    }
    stream.on('response', (h) => {
      if (done) return
      handler.onResponseStart?.(controller, Number(h[HTTP2_HEADER_STATUS]), toResponseHeaders(h), '')
    })
    stream.on('data', (chunk: Buffer) => { if (!done) handler.onResponseData?.(controller, chunk) })
    let trailers: Record<string, string | string[] | undefined> = {}
    stream.on('trailers', (t) => { trailers = toResponseHeaders(t) })
    stream.on('end', () => {
      if (done) return
      done = true
      handler.onResponseEnd?.(controller, trailers)
    })
    stream.on('error', fail)
    stream.on('close', () => {
      if (!done) fail(controller.reason ?? Object.assign(new Error('upstream stream closed before the response ended'), { code: 'UND_ERR_SOCKET' }))
    })
    if (body !== null && body !== undefined) {
      if (typeof body === 'string' || body instanceof Uint8Array) stream.end(body)
      else (body as Readable).pipe(stream)
    }
    return true
  }

  close (): void {
    if (this.#session !== null) this.#session.close()
    this.#session = null
  }
}

import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { UpstreamConnectionError } from '../shared/errors.ts'
import type { SecureDialer } from './secure-dialer.ts'

// One request on an h2c session: the stream's state and the DispatchController the exchange
// pauses, resumes and aborts. The stream's listeners are module functions that find their request
// through a symbol on the stream (as proxy-exchange.ts does with responses), so a request costs
// this one object of a fixed shape, no closures.

// node:http2's constants.HTTP2_HEADER_STATUS, NGHTTP2_CANCEL and NGHTTP2_REFUSED_STREAM, written out so that importing this
// module does not load node:http2 (h2c-upstream.ts loads it with the first session).
const HTTP2_HEADER_STATUS = ':status'
const NGHTTP2_CANCEL = 8
const NGHTTP2_REFUSED_STREAM = 7

const kRequest = Symbol('sluice.h2cUpstreamRequest')
type TaggedStream = ClientHttp2Stream & { [kRequest]?: H2cUpstreamRequest }

const NO_TRAILERS: Record<string, string | string[] | undefined> = Object.freeze({})

/** Response headers without the pseudo-headers (`:status`), as undici's handlers get them. */
export function toResponseHeaders (headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {}
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* ':' */) out[name] = headers[name]
  return out
}

/**
 * node:http2 reports a stream that never opened (connect refused, connect timeout) as
 * ERR_HTTP2_STREAM_CANCEL caused by the session's error. The cause is what the exchange's replay
 * rule and the activator's endpoint health read (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT), as from
 * the HTTP/1.1 clients. A stream the server refused (RST_STREAM REFUSED_STREAM) or left beyond its
 * GOAWAY was not processed (RFC 9113 8.7): UND_ERR_SOCKET, which the exchange replays when it has
 * no body, as the HTTP/1.1 keep-alive race.
 */
export function streamFailure (err: Error, rstCode: number | undefined): Error {
  const code = (err as { code?: unknown }).code
  if (code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error && typeof (err.cause as { code?: unknown }).code === 'string') return err.cause
  if ((code === 'ERR_HTTP2_STREAM_ERROR' && rstCode === NGHTTP2_REFUSED_STREAM) || code === 'ERR_HTTP2_GOAWAY_SESSION') {
    return new UpstreamConnectionError('UND_ERR_SOCKET', 'the upstream refused the stream unprocessed', { cause: err })
  }
  return err
}

export class H2cUpstreamRequest implements Dispatcher.DispatchController {
  readonly stream: ClientHttp2Stream
  readonly handler: Dispatcher.DispatchHandler
  /**
   * The request body still to send, piped once the stream is open: a connect failure then leaves it
   * unread, so the exchange may replay the request on another endpoint (its rule: no body byte read).
   */
  body: Readable | null
  /** The session's TLS dialer (h2 to a pod with system-internal-tls), else null. */
  readonly dialer: SecureDialer | null
  /** Trailers received (gRPC's status); NO_TRAILERS until then. */
  trailers: Record<string, string | string[] | undefined>
  #aborted: boolean
  #paused: boolean
  #reason: Error | null
  /** onResponseEnd or onResponseError was called: nothing more reaches the handler. */
  #isDone: boolean

  constructor (stream: ClientHttp2Stream, handler: Dispatcher.DispatchHandler, body: Readable | null, dialer: SecureDialer | null = null) {
    this.stream = stream
    this.handler = handler
    this.body = body
    this.dialer = dialer
    this.trailers = NO_TRAILERS
    this.#aborted = false
    this.#paused = false
    this.#reason = null
    this.#isDone = false
    const tagged = stream as TaggedStream
    tagged[kRequest] = this
    stream.on('response', onStreamResponse)
    stream.on('data', onStreamData)
    stream.on('trailers', onStreamTrailers)
    stream.on('end', onStreamEnd)
    stream.on('error', onStreamError)
    stream.on('close', onStreamClose)
    if (body !== null) {
      if (stream.pending) stream.once('ready', onStreamReady)
      else this.sendBody()
    }
  }

  sendBody (): void {
    const body = this.body
    if (body === null) return
    this.body = null
    if (!this.#isDone) body.pipe(this.stream)
  }

  // --- DispatchController --------------------------------------------------------------------

  get aborted (): boolean { return this.#aborted }
  get paused (): boolean { return this.#paused }
  get reason (): Error | null { return this.#reason }

  abort (reason: Error): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    // RST_STREAM(CANCEL): the endpoint's sidecar sees its client go, as with a closed HTTP/1.1 socket.
    this.stream.close(NGHTTP2_CANCEL)
  }

  pause (): void { this.#paused = true; this.stream.pause() }
  resume (): void { this.#paused = false; this.stream.resume() }

  // --- stream events -------------------------------------------------------------------------

  onResponse (headers: IncomingHttpHeaders): void {
    if (this.#isDone) return
    this.handler.onResponseStart?.(this, Number(headers[HTTP2_HEADER_STATUS]), toResponseHeaders(headers), '')
  }

  onData (chunk: Buffer): void {
    if (!this.#isDone) this.handler.onResponseData?.(this, chunk)
  }

  onEnd (): void {
    if (this.#isDone) return
    this.#isDone = true
    this.handler.onResponseEnd?.(this, this.trailers)
  }

  fail (err: Error): void {
    if (this.#isDone) return
    this.#isDone = true
    this.handler.onResponseError?.(this, err)
  }

  onClose (): void {
    if (!this.#isDone) this.fail(this.#reason ?? new UpstreamConnectionError('UND_ERR_SOCKET', 'upstream stream closed before the response ended'))
  }
}

function requestOf (stream: ClientHttp2Stream): H2cUpstreamRequest | undefined {
  return (stream as TaggedStream)[kRequest]
}

function onStreamResponse (this: ClientHttp2Stream, headers: IncomingHttpHeaders): void { requestOf(this)?.onResponse(headers) }
function onStreamData (this: ClientHttp2Stream, chunk: Buffer): void { requestOf(this)?.onData(chunk) }
function onStreamTrailers (this: ClientHttp2Stream, trailers: IncomingHttpHeaders): void {
  const r = requestOf(this)
  if (r !== undefined) r.trailers = toResponseHeaders(trailers)
}
function onStreamEnd (this: ClientHttp2Stream): void { requestOf(this)?.onEnd() }
function onStreamError (this: ClientHttp2Stream, err: Error): void {
  const req = requestOf(this)
  if (req === undefined) return
  const dialer = req.dialer
  // Over TLS a session that failed before the stream opened failed its handshake or its connect:
  // the dialer types it (a TLS failure, or the OS error as it is), as the HTTP/1.1 client does.
  if (dialer !== null && (err as { code?: unknown }).code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error) {
    req.fail(dialer.connectError(err.cause))
    return
  }
  req.fail(streamFailure(err, this.rstCode))
}
function onStreamClose (this: ClientHttp2Stream): void { requestOf(this)?.onClose() }
function onStreamReady (this: ClientHttp2Stream): void { requestOf(this)?.sendBody() }

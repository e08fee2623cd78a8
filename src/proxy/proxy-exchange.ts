import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { BreakerWaiter } from '../admission/breaker.ts'
import type { QueueNode } from '../admission/waiter-queue.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import type { SweepNode } from './deadline-sweeper.ts'
import { buildResponseHeaders } from './request-headers.ts'
import { isChunkLender } from './h1-upstream-request.ts'
import { isConnectError } from './connect-errors.ts'
import type { Upstream } from './upstream.ts'
import type { ExchangeTelemetry } from './exchange-telemetry.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER, SluiceError } from '../shared/errors.ts'
import { relayableTrailers } from './trailer-fields.ts'

// One client request on its way through the proxy. The object is at once the admission
// waiter (queue node), the deadline-sweeper node and undici's dispatch handler, so a request
// costs one allocation of a fixed shape plus the header list; no closures are made per request.
//
// Life: QUEUED? -> DISPATCHED -> RESPONDING -> DONE. `end()` runs exactly once, whatever ends it
// (response complete, upstream error, timeout, client gone), and tells the owner, which
// releases the admission slot and records stats. Every failure path goes through `fail()`.

export const STATE_NEW = 0
export const STATE_QUEUED = 1
export const STATE_DISPATCHED = 2
export const STATE_RESPONDING = 3
export const STATE_DONE = 4

/** How an exchange ended; the owner maps these to metrics. */
export const OUTCOME_NONE = 0
export const OUTCOME_OK = 1
export const OUTCOME_QUEUE_FULL = 2
export const OUTCOME_UPSTREAM_ERROR = 3
export const OUTCOME_TIMEOUT = 4
export const OUTCOME_CLIENT_GONE = 5
export const OUTCOME_QUEUE_TIMEOUT = 6
export const OUTCOME_REJECTED = 7

/** The outcomes' names in request logs and metrics labels, indexed by outcome (one table for every mode). */
const OUTCOME_NAMES: readonly string[] = Object.freeze(['ok', 'ok', 'queue_full', 'upstream_error', 'timeout', 'client_gone', 'queue_timeout', 'rejected'])

export function outcomeName (outcome: number): string {
  return OUTCOME_NAMES[outcome] ?? 'ok'
}

export interface TimeoutPolicy {
  /** Whole request, ms (> 0). */
  readonly totalMs: number
  /** Until the response starts, ms; 0 = off. */
  readonly responseStartMs: number
  /** Between response writes, ms; 0 = off. */
  readonly idleMs: number
  /** Max time waiting for admission, ms; 0 = off (then only totalMs applies). */
  readonly queueMs: number
  /** Body for timeouts. */
  readonly timeoutBody: Buffer
}

/** What an exchange needs from whoever admitted it. One implementation per server keeps calls monomorphic. */
export interface ExchangeOwner {
  /** A queued exchange was granted a slot; the owner now dispatches it. */
  onExchangeAdmitted (ex: ProxyExchange): void
  /** A queued exchange must leave its queue (timeout, client gone). */
  onExchangeDequeue (ex: ProxyExchange): void
  /** Upstream failed before any response byte and the request can be replayed: where to? null = give up. */
  retryTarget (ex: ProxyExchange, err: Error): Upstream | null
  /** Upstream failed (before or after retries); called before the error response is written. */
  onUpstreamFailure (ex: ProxyExchange, err: Error): void
  /** Called once when the response is about to start; may return a Server-Timing value or null. */
  serverTiming (ex: ProxyExchange): string | null
  /** Called exactly once, last. */
  onExchangeEnd (ex: ProxyExchange): void
}

export interface ExchangeClock { nowMs (): number }

const kExchange = Symbol('sluice.exchange')
type ResponseWithExchange = InboundResponse & { [kExchange]?: ProxyExchange }

// Shared listeners: they find their exchange through a symbol on the response, so attaching
// them allocates nothing per request.
function onResponseClose (this: ResponseWithExchange): void {
  const ex = this[kExchange]
  if (ex !== undefined) ex.onClientClose()
}
function onResponseDrain (this: ResponseWithExchange): void {
  const ex = this[kExchange]
  if (ex !== undefined) ex.onClientDrain()
}
type BodyWithExchange = Readable & { [kExchange]?: ProxyExchange | null }
function onRequestBodyError (this: BodyWithExchange, err: Error): void {
  const ex = this[kExchange]
  if (ex !== undefined && ex !== null) ex.onRequestBodyError(err)
}

const TEXT_PLAIN = 'text/plain; charset=utf-8'
const SOCKET_RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED'])

export class ProxyExchange implements BreakerWaiter, SweepNode, Dispatcher.DispatchHandler {
  // queue node
  prev: QueueNode | null
  next: QueueNode | null
  queued: boolean
  // sweep node
  sweepPrev: SweepNode | null
  sweepNext: SweepNode | null
  isSwept: boolean

  readonly owner: ExchangeOwner
  readonly req: InboundRequest
  readonly res: InboundResponse
  readonly clock: ExchangeClock
  readonly timeouts: TimeoutPolicy
  /** Came through an activator (`K-Proxy-Request: activator`). */
  readonly proxied: boolean
  readonly startMs: number
  state: number
  outcome: number
  /** Upstream status, or the status we answered with. */
  statusCode: number
  /** Response body bytes written to the client (request logs). */
  responseBytes: number
  admittedMs: number
  firstByteMs: number
  lastWriteMs: number
  /** Owner bookkeeping: this exchange owns an admission slot that `end` must return. */
  holdsSlot: boolean
  /** Owner bookkeeping (activator: the chosen pod tracker). */
  target: unknown
  retries: number
  options: Dispatcher.DispatchOptions
  dispatcher: Upstream | null
  controller: Dispatcher.DispatchController | null
  isPausedByClient: boolean
  error: Error | null
  /** The SLUICE_ERR_* code of the answer Sluice gave itself (`fail`), for the header and the logs; null otherwise. */
  errorCode: string | null
  isEnded: boolean
  /** Spans and measurements when OpenTelemetry is on (the owner sets it after construction); null when off. */
  telemetry: ExchangeTelemetry | null

  constructor (owner: ExchangeOwner, req: InboundRequest, res: InboundResponse, options: Dispatcher.DispatchOptions,
    proxied: boolean, clock: ExchangeClock, timeouts: TimeoutPolicy) {
    this.prev = null
    this.next = null
    this.queued = false
    this.sweepPrev = null
    this.sweepNext = null
    this.isSwept = false
    this.owner = owner
    this.req = req
    this.res = res
    this.clock = clock
    this.timeouts = timeouts
    this.proxied = proxied
    this.startMs = clock.nowMs()
    this.state = STATE_NEW
    this.outcome = OUTCOME_NONE
    this.statusCode = 0
    this.responseBytes = 0
    this.admittedMs = -1
    this.firstByteMs = -1
    this.lastWriteMs = this.startMs
    this.holdsSlot = false
    this.target = null
    this.retries = 0
    this.options = options
    this.dispatcher = null
    this.controller = null
    this.isPausedByClient = false
    this.error = null
    this.errorCode = null
    this.isEnded = false
    this.telemetry = null
    ;(res as ResponseWithExchange)[kExchange] = this
    res.on('close', onResponseClose)
    // The body can fail (malformed chunk framing) while the request waits for a slot or for an
    // upstream connection, when no upstream reads it yet: the exchange hears it from the start.
    const body = options.body
    if (body instanceof Readable) {
      ;(body as BodyWithExchange)[kExchange] = this
      body.on('error', onRequestBodyError)
    }
  }

  get isDone (): boolean { return this.state === STATE_DONE }

  // --- admission -------------------------------------------------------------------------

  /** Marks the exchange as waiting in a queue (the owner linked it). */
  markQueued (): void { this.state = STATE_QUEUED }

  onAdmit (): void {
    // The slot is ours now; the owner dispatches, or releases it at once if we already ended.
    this.holdsSlot = true
    this.owner.onExchangeAdmitted(this)
  }

  // --- upstream --------------------------------------------------------------------------

  /** Sends the request to `dispatcher`. The owner has admitted it. */
  dispatch (dispatcher: Upstream): void {
    if (this.state === STATE_DONE) return
    if (this.admittedMs < 0) {
      this.admittedMs = this.clock.nowMs()
      if (this.telemetry !== null) this.telemetry.onAdmitted(this)
    }
    this.state = STATE_DISPATCHED
    this.dispatcher = dispatcher
    dispatcher.dispatch(this.options, this)
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.state === STATE_DONE) controller.abort(this.error ?? new Error('exchange ended'))
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.state === STATE_DONE) return
    const now = this.clock.nowMs()
    this.firstByteMs = now
    this.lastWriteMs = now
    this.state = STATE_RESPONDING
    this.statusCode = statusCode
    const timing = this.owner.serverTiming(this)
    this.res.writeHead(statusCode, buildResponseHeaders(headers, timing === null ? null : 'server-timing', timing ?? ''))
    // A streamed response (no Content-Length: SSE, chunked) shows its head at once even if the
    // first chunk is slow. A sized response's head leaves with its body in one write instead.
    if (headers['content-length'] === undefined) this.res.flushHeaders()
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.state === STATE_DONE) return
    this.lastWriteMs = this.clock.nowMs()
    this.responseBytes += chunk.length
    const res = this.res
    const ok = res.write(chunk)
    // Copied or written out whole: the upstream connection may read into that memory again.
    if (res.holdsLastChunk === false && isChunkLender(controller)) controller.releaseChunk()
    if (!ok) {
      // Client is slower than the upstream: stop reading upstream until the socket drains.
      if (!this.isPausedByClient) {
        this.isPausedByClient = true
        this.res.once('drain', onResponseDrain)
      }
      controller.pause()
    }
  }

  /**
   * The request body failed before or while it was forwarded. A malformed body (a client error)
   * ends the exchange at once with its 4xx, wherever it is: queued, waiting for a connection, or
   * sent (then the upstream request is aborted); the slot is freed by `end`. Other failures (the
   * client went away mid-upload) end through the response's 'close'.
   */
  onRequestBodyError (err: Error): void {
    if (this.isEnded) return
    if (err instanceof SluiceError && err.statusCode >= 400 && err.statusCode < 500) {
      this.error = err
      this.fail(OUTCOME_REJECTED, err.statusCode, Buffer.from(`${err.message}\n`))
    }
  }

  onClientDrain (): void {
    this.isPausedByClient = false
    const controller = this.controller
    if (controller !== null && this.state !== STATE_DONE) controller.resume()
  }

  onResponseEnd (_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.state === STATE_DONE) return
    if (trailers !== null && typeof trailers === 'object') {
      // Framing, routing, auth and other fields that must not be trailers are dropped (trailer-fields.ts).
      const relayed = relayableTrailers(trailers)
      if (relayed !== null) this.res.addTrailers(relayed as Record<string, string>)
    }
    this.res.end()
    this.outcome = OUTCOME_OK
    this.end()
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.state === STATE_DONE) return
    if (this.state === STATE_DISPATCHED && this.canRetry(err)) {
      const target = this.owner.retryTarget(this, err)
      if (target !== null) {
        this.retries++
        this.controller = null
        this.dispatch(target)
        return
      }
    }
    this.error = err
    this.owner.onUpstreamFailure(this, err)
    if (this.isEnded) return // the owner may have ended it
    // A request we refused to send (e.g. CR/LF in a header) is the client's fault: its own 4xx.
    if (err instanceof SluiceError && err.statusCode >= 400 && err.statusCode < 500) {
      this.fail(OUTCOME_REJECTED, err.statusCode, Buffer.from(`${err.message}\n`))
      return
    }
    this.fail(OUTCOME_UPSTREAM_ERROR, 502, upstreamErrorBody(err))
  }

  /**
   * Replaying is safe only when no response byte arrived and nothing of the request body was
   * consumed: a bodyless request (the keep-alive race, Knative issue 12414: the app closed an
   * idle socket as we wrote on it) or a connect failure before anything was sent.
   */
  canRetry (err: Error): boolean {
    if (this.firstByteMs >= 0 || this.res.headersSent) return false
    if (isConnectError(err)) return this.options.body === null || !this.req.readableDidRead
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && SOCKET_RESET_CODES.has(code) && this.options.body === null
  }

  // --- deadlines ---------------------------------------------------------------------------

  checkDeadlines (nowMs: number): void {
    const t = this.timeouts
    const state = this.state
    if (this.isEnded) return
    if (state === STATE_QUEUED && t.queueMs > 0 && nowMs - this.startMs >= t.queueMs) {
      this.fail(OUTCOME_QUEUE_TIMEOUT, 503, QUEUE_TIMEOUT_BODY)
      return
    }
    if (nowMs - this.startMs >= t.totalMs ||
        (t.responseStartMs > 0 && this.firstByteMs < 0 && nowMs - this.startMs >= t.responseStartMs) ||
        (t.idleMs > 0 && nowMs - this.lastWriteMs >= t.idleMs)) {
      this.fail(OUTCOME_TIMEOUT, 504, t.timeoutBody)
    }
  }

  // --- endings -----------------------------------------------------------------------------

  /** The client went away (or the response finished: then this is a no-op). */
  onClientClose (): void {
    if (this.isEnded) return
    // Response not finished, so the client connection closed under us.
    this.outcome = OUTCOME_CLIENT_GONE
    this.abortUpstream(CLIENT_GONE_ERROR)
    this.end()
  }

  /**
   * Ends the exchange with an error status. If the response already started, the only honest
   * signal left is to cut the connection.
   */
  fail (outcome: number, statusCode: number, body: Buffer, code: string | null = null): void {
    if (this.isEnded) return
    this.outcome = outcome
    const errorCode = code ?? answerCodeOf(outcome, this.error)
    this.errorCode = errorCode
    this.abortUpstream(outcome === OUTCOME_TIMEOUT ? TIMEOUT_ERROR : ABORTED_ERROR)
    const res = this.res
    if (!res.headersSent) {
      this.statusCode = statusCode
      this.responseBytes = body.length
      res.writeHead(statusCode, ['content-type', TEXT_PLAIN, 'content-length', String(body.length), 'x-content-type-options', 'nosniff', ERROR_CODE_HEADER, errorCode])
      res.end(body)
    } else {
      res.destroy()
    }
    this.end()
  }

  abortUpstream (reason: Error): void {
    if (this.state === STATE_QUEUED) {
      this.state = STATE_DONE
      this.owner.onExchangeDequeue(this)
      return
    }
    const controller = this.controller
    if (controller !== null && (this.state === STATE_DISPATCHED || this.state === STATE_RESPONDING) && !controller.aborted) {
      this.state = STATE_DONE // mark first: abort() calls back into onResponseError synchronously
      controller.abort(reason)
    }
  }

  end (): void {
    if (this.isEnded) return
    this.isEnded = true
    if (this.state === STATE_QUEUED) this.owner.onExchangeDequeue(this)
    this.state = STATE_DONE
    if (this.outcome === OUTCOME_NONE) this.outcome = OUTCOME_OK
    const body = this.options.body
    if (body instanceof Readable) (body as BodyWithExchange)[kExchange] = null
    this.options.body = null // let the request stream go
    if (this.telemetry !== null) this.telemetry.onEnd(this)
    this.owner.onExchangeEnd(this)
  }
}

// Static bodies and errors: built once (no stack traces made during overload).
const QUEUE_TIMEOUT_BODY = Buffer.from('request timed out waiting for capacity\n')
const CLIENT_GONE_ERROR = new Error('client closed the connection')
const TIMEOUT_ERROR = new Error('request timeout')
const ABORTED_ERROR = new Error('request aborted by proxy')

/** The code of an answer `fail` gives without one: by outcome, or the SluiceError that caused it. */
function answerCodeOf (outcome: number, err: Error | null): string {
  // UpstreamConnectionError carries undici's codes (UND_ERR_*) on purpose: those stay in the body.
  if (err instanceof SluiceError && err.code.startsWith('SLUICE_ERR_')) return err.code
  switch (outcome) {
    case OUTCOME_QUEUE_FULL: return ANSWER_CODES.queueFull
    case OUTCOME_QUEUE_TIMEOUT: return ANSWER_CODES.queueTimeout
    case OUTCOME_TIMEOUT: return ANSWER_CODES.timeout
    default: return ANSWER_CODES.upstream
  }
}

function upstreamErrorBody (err: Error): Buffer {
  const code = (err as { code?: unknown }).code
  return Buffer.from(`upstream request failed: ${typeof code === 'string' ? code : err.message}\n`)
}

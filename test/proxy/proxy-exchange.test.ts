// ProxyExchange on its own: a real node:http front server whose handler makes one exchange per
// request, a real H1Upstream to a real app on loopback, real clients. A small owner stands in for
// the sidecar/activator (it records what the exchange tells it). Deadlines run on a ManualClock and
// are checked by calling the DeadlineSweeper's sweep(): "times out at 1,000 ms" is fake time, and
// "not before" is checked synchronously after a sweep, not by waiting.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Dispatcher } from 'undici'
import { DeadlineSweeper } from '../../src/proxy/deadline-sweeper.ts'
import { H1Upstream } from '../../src/proxy/h1-upstream.ts'
import {
  OUTCOME_CLIENT_GONE, OUTCOME_OK, OUTCOME_QUEUE_TIMEOUT, OUTCOME_REJECTED, OUTCOME_TIMEOUT, OUTCOME_UPSTREAM_ERROR,
  OUTCOME_QUEUE_FULL, STATE_DONE, STATE_QUEUED, outcomeName, ProxyExchange, type ExchangeOwner, type TimeoutPolicy,
} from '../../src/proxy/proxy-exchange.ts'
import { buildUpstreamHeaders } from '../../src/proxy/request-headers.ts'
import { requestBody } from '../../src/proxy/request-body.ts'
import type { Upstream } from '../../src/proxy/upstream.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER, InvalidUpstreamRequestError, MalformedRequestBodyError } from '../../src/shared/errors.ts'
import { listen, startHttpApp, startRawServer, type Teardown } from './h1-fixtures.ts'

const TIMEOUT_BODY = Buffer.from('request timed out\n')
const NO_DEADLINES: TimeoutPolicy = { totalMs: 3_600_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: TIMEOUT_BODY }

/** The owner a server would be: records the calls, dispatches admitted exchanges, retries once if told where. */
class TestOwner implements ExchangeOwner {
  readonly calls: string[] = []
  readonly ended: ProxyExchange[] = []
  upstream: Upstream
  /** What retryTarget answers (once); null = give up. */
  retryWith: Upstream | null = null
  timing: string | null = null
  readonly sweeper: DeadlineSweeper
  #onEnd: Array<() => void> = []

  constructor (upstream: Upstream, sweeper: DeadlineSweeper) {
    this.upstream = upstream
    this.sweeper = sweeper
  }

  onExchangeAdmitted (ex: ProxyExchange): void {
    this.calls.push('admitted')
    ex.dispatch(this.upstream)
  }

  onExchangeDequeue (_ex: ProxyExchange): void { this.calls.push('dequeue') }

  retryTarget (_ex: ProxyExchange, err: Error): Upstream | null {
    this.calls.push(`retryTarget:${(err as { code?: string }).code ?? err.name}`)
    const target = this.retryWith
    this.retryWith = null
    return target
  }

  onUpstreamFailure (_ex: ProxyExchange, err: Error): void {
    this.calls.push(`failure:${(err as { code?: string }).code ?? err.name}`)
  }

  serverTiming (_ex: ProxyExchange): string | null {
    this.calls.push('serverTiming')
    return this.timing
  }

  onExchangeEnd (ex: ProxyExchange): void {
    this.calls.push('end')
    this.sweeper.remove(ex)
    this.ended.push(ex)
    for (const fn of this.#onEnd.splice(0)) fn()
  }

  /** Resolves once `n` exchanges have ended. */
  async whenEnded (n: number): Promise<void> {
    while (this.ended.length < n) await new Promise<void>((resolve) => { this.#onEnd.push(resolve) })
  }
}

interface FrontOptions {
  timeouts?: TimeoutPolicy
  /** Exchanges wait in the "queue" (markQueued) until the test admits them with ex.onAdmit(). */
  queued?: boolean
  /** Replaces the request body (a stream the test controls). */
  body?: () => Readable
}

interface Front {
  port: number
  clock: ManualClock
  sweeper: DeadlineSweeper
  owner: TestOwner
  exchanges: ProxyExchange[]
  /** Resolves with the n-th exchange (1-based) once the front server made it. */
  exchange (n: number): Promise<ProxyExchange>
  /** Moves fake time on and runs one deadline sweep. */
  advance (ms: number): void
}

async function startFront (t: Teardown, upstream: Upstream, o: FrontOptions = {}): Promise<Front> {
  const clock = new ManualClock(1_000)
  // The interval never runs on its own: tests sweep by hand.
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), 50, new ManualTimers(clock))
  const owner = new TestOwner(upstream, sweeper)
  const exchanges: ProxyExchange[] = []
  const waiting: Array<() => void> = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const options: Dispatcher.DispatchOptions = {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: buildUpstreamHeaders(req.rawHeaders, { clientAddress: req.socket.remoteAddress ?? null, isUpgrade: false, extra: null, drop: null }),
      body: o.body !== undefined ? o.body() : requestBody(req),
    }
    const ex = new ProxyExchange(owner, req, res, options, false, clock, o.timeouts ?? NO_DEADLINES)
    exchanges.push(ex)
    sweeper.add(ex)
    if (o.queued === true) ex.markQueued()
    else ex.dispatch(owner.upstream)
    for (const fn of waiting.splice(0)) fn()
  })
  const port = await listen(t, server)
  return {
    port,
    clock,
    sweeper,
    owner,
    exchanges,
    async exchange (n: number): Promise<ProxyExchange> {
      while (exchanges.length < n) await new Promise<void>((resolve) => { waiting.push(resolve) })
      return exchanges[n - 1] as ProxyExchange
    },
    advance (ms: number): void {
      clock.advance(ms)
      sweeper.sweep()
    },
  }
}

function h1 (t: Teardown, port: number): H1Upstream {
  const up = new H1Upstream({ host: '127.0.0.1', port })
  t.teardown(() => { up.destroy() })
  return up
}

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
  trailers: Record<string, string | undefined>
  /** The response was cut before its end (the proxy destroyed the connection). */
  cut: boolean
}

interface ClientRequest {
  reply: Promise<Reply>
  /** Destroys the client's socket (a client going away). */
  abort (): void
}

function send (port: number, opts: { method?: string, path?: string, headers?: Record<string, string>, body?: string } = {}): ClientRequest {
  const req = httpRequest({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false })
  const reply = new Promise<Reply>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let cut = false
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('aborted', () => { cut = true })
      res.on('error', () => { cut = true })
      res.on('close', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers, cut: cut || !res.complete })
      })
    })
    req.on('error', reject)
  })
  req.end(opts.body)
  return { reply, abort: () => { req.destroy() } }
}

// --- the ordinary path --------------------------------------------------------------------------

t.test('relays status, headers (hop-by-hop dropped), body and trailers; ends once as ok', async (t) => {
  let seenHeaders: IncomingHttpHeaders = {}
  const app = await startHttpApp(t, (req, res) => {
    seenHeaders = req.headers
    res.writeHead(201, { 'x-app': 'yes', 'keep-alive': 'timeout=1', connection: 'keep-alive, x-hop', 'x-hop': 'h', trailer: 'x-sum' })
    res.write('hello ')
    res.addTrailers({ 'x-sum': '42' })
    res.end('world')
  })
  const front = await startFront(t, h1(t, app.port))
  front.owner.timing = 'total;dur=1'
  const r = await send(front.port, { path: '/a?b=c', headers: { 'x-client': '1', 'knative-serving-revision': 'r' } }).reply
  t.equal(r.status, 201)
  t.equal(r.body, 'hello world')
  t.equal(r.headers['x-app'], 'yes')
  t.equal(r.headers['x-hop'], undefined, 'a field named in Connection is not relayed')
  t.equal(r.headers['keep-alive'], undefined)
  t.equal(r.headers['server-timing'], 'total;dur=1', 'the owner\'s Server-Timing value is added')
  t.equal(r.headers[ERROR_CODE_HEADER], undefined, 'no error code on a relayed answer')
  t.same(r.trailers, { 'x-sum': '42' })
  t.equal(seenHeaders['x-client'], '1')
  t.equal(seenHeaders['knative-serving-revision'], undefined)
  await front.owner.whenEnded(1)
  const ex = front.owner.ended[0] as ProxyExchange
  t.equal(ex.outcome, OUTCOME_OK)
  t.equal(ex.statusCode, 201)
  t.equal(ex.responseBytes, 11)
  t.equal(ex.firstByteMs, 1_000, 'the first byte is stamped from the injected clock')
  t.equal(ex.state, STATE_DONE)
  t.same(front.owner.calls, ['serverTiming', 'end'])
  t.equal(front.sweeper.size, 0)
})

t.test('a streamed response (no Content-Length) shows its head before the first chunk', async (t) => {
  let finish: (() => void) | null = null
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.flushHeaders()
    finish = () => { res.end('data: 1\n\n') }
  })
  const end = (): void => { if (finish !== null) finish() }
  const front = await startFront(t, h1(t, app.port))
  const req = httpRequest({ host: '127.0.0.1', port: front.port, agent: false })
  const head = new Promise<IncomingMessage>((resolve) => { req.on('response', resolve) })
  req.end()
  const res = await head // would hang if the proxy held the head back for a body
  t.equal(res.statusCode, 200)
  t.not(finish, null, 'the app has not written its body yet')
  const body = new Promise<string>((resolve) => { let s = ''; res.on('data', (c: Buffer) => { s += c }); res.on('end', () => { resolve(s) }) })
  end()
  t.equal(await body, 'data: 1\n\n')
})

t.test('a request body is forwarded', async (t) => {
  const app = await startHttpApp(t, (req, res) => {
    let s = ''
    req.on('data', (c: Buffer) => { s += c })
    req.on('end', () => { res.end(`got ${s}`) })
  })
  const front = await startFront(t, h1(t, app.port))
  const r = await send(front.port, { method: 'POST', body: 'payload', headers: { 'content-length': '7' } }).reply
  t.equal(r.body, 'got payload')
})

t.test('outcome names: one table for every mode', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 99].map(outcomeName),
    ['ok', 'ok', 'queue_full', 'upstream_error', 'timeout', 'client_gone', 'queue_timeout', 'rejected', 'ok'])
})

// --- deadlines on the fake clock ----------------------------------------------------------------

t.test('total timeout: 504 with the policy\'s body at exactly totalMs, not a tick before; the upstream request is aborted', async (t) => {
  let appReqClosed: Promise<void> | null = null
  let arrived: () => void = () => {}
  const atApp = new Promise<void>((resolve) => { arrived = resolve })
  const app = await startHttpApp(t, (req) => {
    appReqClosed = new Promise<void>((resolve) => { req.socket.on('close', () => { resolve() }) })
    arrived()
  })
  const front = await startFront(t, h1(t, app.port), { timeouts: { ...NO_DEADLINES, totalMs: 1_000 } })
  const reply = send(front.port).reply
  await atApp
  const ex = await front.exchange(1)
  front.advance(999)
  t.equal(ex.isEnded, false, 'still running at 999 ms')
  front.advance(1)
  t.equal(ex.isEnded, true, 'ended by the sweep at 1,000 ms')
  const r = await reply
  t.equal(r.status, 504)
  t.equal(r.body, TIMEOUT_BODY.toString())
  t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.timeout)
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(ex.outcome, OUTCOME_TIMEOUT)
  t.equal(ex.errorCode, ANSWER_CODES.timeout)
  await appReqClosed // the upstream connection carrying the request was closed
  t.same(front.owner.calls, ['end'], 'no upstream failure reported for our own abort')
})

t.test('response-start timeout: 504 when no head arrives within responseStartMs', async (t) => {
  let arrived: () => void = () => {}
  const atApp = new Promise<void>((resolve) => { arrived = resolve })
  const app = await startHttpApp(t, () => { arrived() })
  const front = await startFront(t, h1(t, app.port), { timeouts: { ...NO_DEADLINES, responseStartMs: 300 } })
  const reply = send(front.port).reply
  await atApp
  const ex = await front.exchange(1)
  front.advance(299)
  t.equal(ex.isEnded, false)
  front.advance(1)
  const r = await reply
  t.equal(r.status, 504)
  t.equal(ex.outcome, OUTCOME_TIMEOUT)
})

t.test('response-start timeout no longer applies once the head arrived', async (t) => {
  let gotHead: () => void = () => {}
  const headSeen = new Promise<void>((resolve) => { gotHead = resolve })
  let finish: () => void = () => {}
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('a')
    finish = () => { res.end('b') }
  })
  const front = await startFront(t, h1(t, app.port), { timeouts: { ...NO_DEADLINES, responseStartMs: 300 } })
  const req = httpRequest({ host: '127.0.0.1', port: front.port, agent: false })
  let body = ''
  const done = new Promise<void>((resolve) => {
    req.on('response', (res) => { res.on('data', (c: Buffer) => { body += c; gotHead() }); res.on('end', resolve) })
  })
  req.end()
  await headSeen
  const ex = await front.exchange(1)
  front.advance(10_000)
  t.equal(ex.isEnded, false, 'a slow body is not a slow start')
  finish()
  await done
  t.equal(body, 'ab')
})

t.test('idle timeout after the response started: the connection is cut (the status is already sent)', async (t) => {
  let wrote: () => void = () => {}
  const firstChunk = new Promise<void>((resolve) => { wrote = resolve })
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('partial', () => { wrote() })
  })
  const front = await startFront(t, h1(t, app.port), { timeouts: { ...NO_DEADLINES, idleMs: 500 } })
  const req = httpRequest({ host: '127.0.0.1', port: front.port, agent: false })
  let body = ''
  const gotData = new Promise<void>((resolve) => { req.on('response', (res) => { res.on('data', (c: Buffer) => { body += c; resolve() }); res.on('error', () => {}) }) })
  const closed = new Promise<void>((resolve) => { req.on('close', resolve) })
  req.on('error', () => {})
  req.end()
  await firstChunk
  await gotData
  const ex = await front.exchange(1)
  front.advance(499)
  t.equal(ex.isEnded, false, 'idle 499 ms after the last write')
  front.advance(1)
  t.equal(ex.outcome, OUTCOME_TIMEOUT)
  await closed
  t.equal(body, 'partial', 'what was relayed stays; nothing else is written')
  t.equal(ex.statusCode, 200, 'the status the client got')
})

t.test('idle timer restarts on each write', async (t) => {
  let write: (s: string) => void = () => {}
  let end: () => void = () => {}
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    write = (s) => { res.write(s) }
    end = () => { res.end() }
    res.write('0')
  })
  const front = await startFront(t, h1(t, app.port), { timeouts: { ...NO_DEADLINES, idleMs: 500 } })
  const req = httpRequest({ host: '127.0.0.1', port: front.port, agent: false })
  let body = ''
  let onData: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    req.on('response', (res) => { res.on('data', (c: Buffer) => { body += c; onData() }); res.on('end', resolve) })
  })
  req.end()
  const nextData = async (): Promise<void> => { await new Promise<void>((resolve) => { onData = resolve }) }
  await nextData()
  const ex = await front.exchange(1)
  for (let i = 1; i <= 3; i++) {
    front.advance(400)
    const got = nextData()
    write(String(i))
    await got
  }
  t.equal(ex.isEnded, false, '1,200 ms in all, never 500 ms without a write')
  end()
  await done
  t.equal(body, '0123')
})

t.test('queue timeout: a queued exchange gets 503 at queueMs and leaves the queue; admitted ones are unaffected', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end('ok') })
  const front = await startFront(t, h1(t, app.port), { queued: true, timeouts: { ...NO_DEADLINES, queueMs: 2_000, totalMs: 10_000 } })
  const first = send(front.port).reply
  const exFirst = await front.exchange(1)
  t.equal(exFirst.state, STATE_QUEUED)
  front.advance(1_000)
  const second = send(front.port).reply
  const exSecond = await front.exchange(2)
  front.advance(999)
  t.equal(exFirst.isEnded, false, '1,999 ms queued')
  front.advance(1)
  const r = await first
  t.equal(r.status, 503)
  t.equal(r.body, 'request timed out waiting for capacity\n')
  t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueTimeout)
  t.equal(exFirst.outcome, OUTCOME_QUEUE_TIMEOUT)
  t.same(front.owner.calls, ['dequeue', 'end'], 'told to unlink it from the queue, then ended')
  t.equal(exSecond.isEnded, false, 'the later arrival has its own clock')
  exSecond.onAdmit()
  t.equal(exSecond.holdsSlot, true)
  const r2 = await second
  t.equal(r2.status, 200)
  t.equal(exSecond.admittedMs, 3_000, 'admission time from the fake clock')
})

t.test('queue timeout off (0): only the total timeout ends a queued exchange, with 504', async (t) => {
  const front = await startFront(t, h1(t, 1), { queued: true, timeouts: { ...NO_DEADLINES, queueMs: 0, totalMs: 5_000 } })
  const reply = send(front.port).reply
  const ex = await front.exchange(1)
  front.advance(4_999)
  t.equal(ex.isEnded, false)
  front.advance(1)
  t.equal((await reply).status, 504)
  t.same(front.owner.calls, ['dequeue', 'end'])
})

t.test('an exchange admitted after it ended is not dispatched (the owner releases the slot)', async (t) => {
  let hits = 0
  const app = await startHttpApp(t, (_req, res) => { hits++; res.end() })
  const front = await startFront(t, h1(t, app.port), { queued: true, timeouts: { ...NO_DEADLINES, queueMs: 100 } })
  const reply = send(front.port).reply
  const ex = await front.exchange(1)
  front.advance(100)
  t.equal((await reply).status, 503)
  ex.dispatch(front.owner.upstream)
  t.equal(ex.dispatcher, null, 'dispatch after the end is a no-op')
  t.equal(hits, 0)
})

// --- failures -----------------------------------------------------------------------------------

t.test('connection refused: the owner is asked for a retry target, then 502 with the error code', async (t) => {
  const closed = createServer()
  const port = await listen(t, closed)
  await new Promise<void>((resolve) => { closed.close(() => { resolve() }) })
  const front = await startFront(t, h1(t, port))
  const r = await send(front.port).reply
  t.equal(r.status, 502)
  t.equal(r.body, 'upstream request failed: ECONNREFUSED\n')
  t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.upstream)
  const ex = front.exchanges[0] as ProxyExchange
  t.equal(ex.outcome, OUTCOME_UPSTREAM_ERROR)
  t.same(front.owner.calls, ['retryTarget:ECONNREFUSED', 'failure:ECONNREFUSED', 'end'])
})

t.test('a refused connection is retried where the owner says, and the answer comes from there', async (t) => {
  const closed = createServer()
  const deadPort = await listen(t, closed)
  await new Promise<void>((resolve) => { closed.close(() => { resolve() }) })
  const app = await startHttpApp(t, (_req, res) => { res.end('second pod') })
  const front = await startFront(t, h1(t, deadPort))
  front.owner.retryWith = h1(t, app.port)
  const r = await send(front.port).reply
  t.equal(r.status, 200)
  t.equal(r.body, 'second pod')
  const ex = front.exchanges[0] as ProxyExchange
  t.equal(ex.retries, 1)
  t.same(front.owner.calls, ['retryTarget:ECONNREFUSED', 'serverTiming', 'end'])
})

t.test('a socket reset before any response byte: a bodyless request is retried (Knative issue 12414)', async (t) => {
  const raw = await startRawServer(t, (conn) => { conn.socket.destroy() })
  const app = await startHttpApp(t, (_req, res) => { res.end('retried') })
  const front = await startFront(t, h1(t, raw.port))
  front.owner.retryWith = h1(t, app.port)
  const r = await send(front.port).reply
  t.equal(r.body, 'retried')
  t.equal(front.owner.calls[0], 'retryTarget:UND_ERR_SOCKET')
})

t.test('a socket reset with a request body: no retry (the body was consumed), 502', async (t) => {
  const raw = await startRawServer(t, (conn) => { conn.socket.destroy() })
  const front = await startFront(t, h1(t, raw.port))
  front.owner.retryWith = h1(t, 1)
  const r = await send(front.port, { method: 'POST', body: 'x', headers: { 'content-length': '1' } }).reply
  t.equal(r.status, 502)
  t.same(front.owner.calls, ['failure:UND_ERR_SOCKET', 'end'], 'retryTarget never asked')
})

t.test('the upstream fails after the response started: no retry, the client connection is cut', async (t) => {
  const raw = await startRawServer(t, (conn) => {
    conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part', () => { conn.socket.destroy() })
  })
  const front = await startFront(t, h1(t, raw.port))
  front.owner.retryWith = h1(t, 1)
  const r = await send(front.port).reply
  t.equal(r.status, 200)
  t.equal(r.cut, true, 'the client sees a cut response, not a complete one')
  const ex = front.exchanges[0] as ProxyExchange
  t.equal(ex.outcome, OUTCOME_UPSTREAM_ERROR)
  t.same(front.owner.calls, ['serverTiming', 'failure:UND_ERR_SOCKET', 'end'])
})

t.test('a request the upstream client refuses to write (a CR in a header) is the client\'s 400, not a 502', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end('never') })
  const up = h1(t, app.port)
  const bad: Upstream = {
    dispatch (options, handler) {
      return up.dispatch({ ...options, headers: ['x-bad', 'a\rb'] }, handler)
    },
  }
  const front = await startFront(t, bad)
  const r = await send(front.port).reply
  t.equal(r.status, 400)
  t.equal(r.headers[ERROR_CODE_HEADER], new InvalidUpstreamRequestError('').code)
  t.equal(front.exchanges[0]?.outcome, OUTCOME_REJECTED)
})

t.test('a malformed request body while queued ends the exchange with its 4xx at once, and leaves the queue', async (t) => {
  const body = new Readable({ read () {} })
  const front = await startFront(t, h1(t, 1), { queued: true, body: () => body })
  const reply = send(front.port).reply
  const ex = await front.exchange(1)
  body.destroy(new MalformedRequestBodyError('invalid chunk size'))
  const r = await reply
  t.equal(r.status, 400)
  t.equal(r.body, 'malformed request body: invalid chunk size\n')
  t.equal(r.headers[ERROR_CODE_HEADER], 'SLUICE_ERR_SERVER_BODY_MALFORMED')
  t.equal(ex.outcome, OUTCOME_REJECTED)
  t.same(front.owner.calls, ['dequeue', 'end'])
})

t.test('a request body failing with a non-client error leaves the exchange to end otherwise', async (t) => {
  const body = new Readable({ read () {} })
  const front = await startFront(t, h1(t, 1), { queued: true, body: () => body })
  const reply = send(front.port).reply
  const ex = await front.exchange(1)
  body.destroy(new Error('client went away mid-upload'))
  await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.equal(ex.isEnded, false, 'not answered from the body\'s error')
  front.advance(NO_DEADLINES.totalMs)
  t.equal((await reply).status, 504)
})

t.test('the client going away mid-response: client_gone, the upstream request is aborted, no answer written', async (t) => {
  let upstreamClosed: Promise<void> | null = null
  let started: () => void = () => {}
  const atApp = new Promise<void>((resolve) => { started = resolve })
  const app = await startHttpApp(t, (req, res) => {
    upstreamClosed = new Promise<void>((resolve) => { req.socket.on('close', () => { resolve() }) })
    res.writeHead(200)
    res.write('x')
    started()
  })
  const front = await startFront(t, h1(t, app.port))
  const c = send(front.port)
  c.reply.catch(() => {})
  await atApp
  const ex = await front.exchange(1)
  c.abort()
  await front.owner.whenEnded(1)
  t.equal(ex.outcome, OUTCOME_CLIENT_GONE)
  await upstreamClosed
  t.same(front.owner.calls.filter((c) => c.startsWith('failure')), [], 'our abort is not an upstream failure')
})

t.test('the client going away while queued: client_gone and dequeued', async (t) => {
  const front = await startFront(t, h1(t, 1), { queued: true })
  const c = send(front.port)
  c.reply.catch(() => {})
  const ex = await front.exchange(1)
  c.abort()
  await front.owner.whenEnded(1)
  t.equal(ex.outcome, OUTCOME_CLIENT_GONE)
  t.same(front.owner.calls, ['dequeue', 'end'])
})

t.test('fail() for a full queue writes its code; a second fail() or end() changes nothing', async (t) => {
  const front = await startFront(t, h1(t, 1), { queued: true })
  const reply = send(front.port).reply
  const ex = await front.exchange(1)
  ex.fail(OUTCOME_QUEUE_FULL, 503, Buffer.from('pending request queue full\n'))
  ex.fail(OUTCOME_TIMEOUT, 504, TIMEOUT_BODY)
  ex.end()
  const r = await reply
  t.equal(r.status, 503)
  t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueFull)
  t.equal(ex.outcome, OUTCOME_QUEUE_FULL)
  t.same(front.owner.calls, ['dequeue', 'end'], 'ended exactly once')
})

t.test('backpressure: a client that stops reading pauses the upstream, and resumes it when it drains', async (t) => {
  const CHUNK = Buffer.alloc(64 * 1024, 'a')
  const TOTAL = 256 // 16 MiB: far beyond the socket buffers on both sides
  let sent = 0
  let appDone: () => void = () => {}
  const finished = new Promise<void>((resolve) => { appDone = resolve })
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(CHUNK.length * TOTAL) })
    const pump = (): void => {
      while (sent < TOTAL) {
        sent++
        if (!res.write(CHUNK)) { res.once('drain', pump); return }
      }
      res.end()
      appDone()
    }
    pump()
  })
  const front = await startFront(t, h1(t, app.port))
  const req = httpRequest({ host: '127.0.0.1', port: front.port, agent: false })
  const response = new Promise<IncomingMessage>((resolve) => { req.on('response', resolve) })
  req.end()
  const res = await response
  res.pause()
  const ex = await front.exchange(1)
  // Wait (on events, not time) until the exchange has paused the upstream for the slow client.
  while (!ex.isPausedByClient) await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.ok(sent < TOTAL, `the app is held back (${sent} of ${TOTAL} chunks written)`)
  let received = 0
  res.on('data', (c: Buffer) => { received += c.length })
  const ended = new Promise<void>((resolve) => { res.on('end', resolve) })
  res.resume()
  await finished
  await ended
  t.equal(received, CHUNK.length * TOTAL, 'every byte arrives once the client reads')
  t.equal(ex.outcome, OUTCOME_OK)
})

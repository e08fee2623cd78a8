// ExchangeMetrics: what one finished exchange adds to the proxy metrics. Exchanges are real
// ProxyExchange objects (on minimal request/response objects), their times from a ManualClock.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { ExchangeMetrics } from '../../src/proxy/exchange-metrics.ts'
import {
  type ExchangeOwner, OUTCOME_CLIENT_GONE, OUTCOME_OK, OUTCOME_QUEUE_FULL, OUTCOME_QUEUE_TIMEOUT, OUTCOME_REJECTED, OUTCOME_TIMEOUT,
  OUTCOME_UPSTREAM_ERROR, ProxyExchange,
} from '../../src/proxy/proxy-exchange.ts'
import type { InboundRequest, InboundResponse } from '../../src/server/inbound.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'

const OWNER: ExchangeOwner = {
  onExchangeAdmitted () {},
  onExchangeDequeue () {},
  retryTarget: () => null,
  onUpstreamFailure () {},
  serverTiming: () => null,
  onExchangeEnd () {},
}
const REQ: InboundRequest = { headers: {}, rawHeaders: [], httpVersionMajor: 1, httpVersionMinor: 1, socket: {}, readableDidRead: false, resume: () => {} }

function exchange (clock: ManualClock): ProxyExchange {
  const res: InboundResponse = Object.assign(new EventEmitter(), {
    headersSent: false, destroyed: false, writeHead () {}, flushHeaders () {}, write: () => true, end () {}, addTrailers () {}, destroy () {},
  })
  return new ProxyExchange(OWNER, REQ, res, { path: '/', method: 'GET', body: null }, false, clock,
    { totalMs: 1_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: Buffer.alloc(0) })
}

t.test('durations: total, queue wait and time to first byte, each from its own stamps', async (t) => {
  const clock = new ManualClock(100)
  const metrics = new ProxyMetrics()
  const em = new ExchangeMetrics(metrics)
  const ex = exchange(clock)
  ex.admittedMs = 130
  ex.firstByteMs = 175
  ex.statusCode = 200
  ex.outcome = OUTCOME_OK
  em.onExchangeDone(ex, 200)
  t.equal(metrics.latency.sumMs, 100)
  t.equal(metrics.queueWait.sumMs, 30)
  t.equal(metrics.upstreamFirstByte.sumMs, 45)
  t.equal(metrics.responses(2), 1)
})

t.test('never admitted: only the total; admitted without a first byte: no upstream time', async (t) => {
  const clock = new ManualClock(0)
  const metrics = new ProxyMetrics()
  const em = new ExchangeMetrics(metrics)
  const queued = exchange(clock)
  queued.outcome = OUTCOME_QUEUE_TIMEOUT
  queued.statusCode = 503
  em.onExchangeDone(queued, 50)
  const noByte = exchange(clock)
  noByte.admittedMs = 10
  noByte.outcome = OUTCOME_UPSTREAM_ERROR
  noByte.statusCode = 502
  em.onExchangeDone(noByte, 60)
  t.equal(metrics.latency.count, 2)
  t.equal(metrics.queueWait.count, 1)
  t.equal(metrics.queueWait.sumMs, 10)
  t.equal(metrics.upstreamFirstByte.count, 0)
})

t.test('failure counters by outcome; a status of 0 (client gone before any answer) counts no response', async (t) => {
  const clock = new ManualClock(0)
  const metrics = new ProxyMetrics()
  const em = new ExchangeMetrics(metrics)
  const outcomes: Array<[number, number]> = [
    [OUTCOME_QUEUE_FULL, 503], [OUTCOME_QUEUE_TIMEOUT, 503], [OUTCOME_UPSTREAM_ERROR, 502], [OUTCOME_UPSTREAM_ERROR, 502],
    [OUTCOME_TIMEOUT, 504], [OUTCOME_REJECTED, 400], [OUTCOME_CLIENT_GONE, 0], [OUTCOME_OK, 302],
  ]
  for (const [outcome, status] of outcomes) {
    const ex = exchange(clock)
    ex.outcome = outcome
    ex.statusCode = status
    em.onExchangeDone(ex, 1)
  }
  t.equal(metrics.overflow503, 2, 'queue full and queue timeout')
  t.equal(metrics.upstream502, 2)
  t.equal(metrics.timeout504, 1)
  t.same([0, 1, 2, 3, 4, 5].map((c) => metrics.responses(c as 0 | 1 | 2 | 3 | 4 | 5)), [0, 0, 0, 1, 1, 5])
})

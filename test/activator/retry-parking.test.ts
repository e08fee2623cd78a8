// RetryParking: the dispatcher a retry gets when no endpoint has room; "dispatching" parks the
// exchange with its owner, which replays it once an endpoint has room.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { RetryParking } from '../../src/activator/retry-parking.ts'
import { type ExchangeOwner, ProxyExchange } from '../../src/proxy/proxy-exchange.ts'
import type { InboundResponse } from '../../src/server/inbound.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { Collector } from '../proxy/h1-fixtures.ts'

const OWNER: ExchangeOwner = {
  onExchangeAdmitted () {}, onExchangeDequeue () {}, retryTarget: () => null, onUpstreamFailure () {}, serverTiming: () => null, onExchangeEnd () {},
}

function exchange (): ProxyExchange {
  const res: InboundResponse = Object.assign(new EventEmitter(), {
    headersSent: false, destroyed: false, writeHead () {}, flushHeaders () {}, write: () => true, end () {}, addTrailers () {}, destroy () {},
  })
  return new ProxyExchange(OWNER, { headers: {}, rawHeaders: [], httpVersionMajor: 1, httpVersionMinor: 1, socket: {}, readableDidRead: false, resume: () => {} },
    res, { path: '/', method: 'GET', body: null }, false, new ManualClock(0),
    { totalMs: 1_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: Buffer.alloc(0) })
}

t.test('an exchange dispatched here is parked with the owner, untouched', async (t) => {
  const parked: ProxyExchange[] = []
  const parking = new RetryParking({ park: (ex) => { parked.push(ex) } })
  const ex = exchange()
  t.equal(parking.dispatch(ex.options, ex), true)
  t.same(parked, [ex])
  t.equal(ex.isEnded, false)
  t.equal(ex.controller, null, 'no request started')
})

t.test('a handler that is not an exchange is ignored (only RevisionProxy.retryTarget hands this out)', async (t) => {
  const parked: unknown[] = []
  const parking = new RetryParking({ park: (ex) => { parked.push(ex) } })
  const c = new Collector()
  t.equal(parking.dispatch({ path: '/', method: 'GET' }, c), true)
  t.same(parked, [])
  t.equal(c.ended, false)
})

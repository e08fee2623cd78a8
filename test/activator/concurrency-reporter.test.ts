import t from 'tap'
import { ConcurrencyReporter, type StatSink } from '../../src/activator/concurrency-reporter.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import type { WireStatMessage } from '../../src/stats/stat.ts'

class RecordingSink implements StatSink {
  batches: WireStatMessage[][] = []
  send (messages: readonly WireStatMessage[]): void { this.batches.push([...messages]) }
}

function setup (): { clock: ManualClock, sink: RecordingSink, reporter: ConcurrencyReporter } {
  const clock = new ManualClock(1000)
  const sink = new RecordingSink()
  const reporter = new ConcurrencyReporter({ podName: 'activator-0', sink, clock })
  return { clock, sink, reporter }
}

t.test('first request pokes at once; the next report subtracts the poke', async (t) => {
  const { clock, sink, reporter } = setup()
  const rc = reporter.register('default', 'hello-00001')
  rc.reqIn(clock.nowMs())
  t.equal(sink.batches.length, 1, 'poke sent synchronously')
  t.same(sink.batches[0], [{
    namespace: 'default',
    name: 'hello-00001',
    stat: { podName: 'activator-0', averageConcurrentRequests: 1, averageProxiedConcurrentRequests: 0, requestCount: 1, proxiedRequestCount: 0, processUptime: 0, timestamp: 0 },
  }])
  rc.reqIn(clock.nowMs())
  t.equal(sink.batches.length, 1, 'no second poke while tracked')
  // Two requests for the whole second: average 2, count 2 -> reported 1 and 1 after the poke adjustment.
  clock.advance(1000)
  reporter.report()
  t.equal(sink.batches.length, 2)
  const stat = sink.batches[1]?.[0]?.stat
  t.equal(stat?.averageConcurrentRequests, 1)
  t.equal(stat?.requestCount, 1)
  t.equal(stat?.podName, 'activator-0')
  // Metrics keep the unadjusted numbers.
  t.equal(reporter.entries()[0]?.stat.averageConcurrentRequests, 2)
  // Following periods are not adjusted.
  clock.advance(1000)
  reporter.report()
  t.equal(sink.batches[2]?.[0]?.stat?.averageConcurrentRequests, 2)
  t.equal(sink.batches[2]?.[0]?.stat?.requestCount, 0)
})

t.test('buffered time counts: a request waiting 500 ms of a 1 s period is 0.5', async (t) => {
  const { clock, sink, reporter } = setup()
  const rc = reporter.register('default', 'r')
  rc.reqIn(clock.nowMs())
  clock.advance(1000)
  reporter.report() // poke period: avg 1 - 1 = 0
  t.equal(sink.batches[1]?.[0]?.stat?.averageConcurrentRequests, 0)
  clock.advance(500)
  rc.reqOut(clock.nowMs())
  clock.advance(500)
  reporter.report()
  t.equal(sink.batches[2]?.[0]?.stat?.averageConcurrentRequests, 0.5)
})

t.test('an idle entry is reported once more, dropped, and the next request pokes again', async (t) => {
  const { clock, sink, reporter } = setup()
  const rc = reporter.register('default', 'r')
  rc.reqIn(clock.nowMs())
  clock.advance(100)
  rc.reqOut(clock.nowMs())
  clock.advance(900)
  reporter.report()
  t.equal(reporter.trackedCount, 1, 'activity in the period: kept')
  clock.advance(1000)
  reporter.report()
  t.equal(sink.batches.length, 3, 'the idle period is still sent')
  t.equal(sink.batches[2]?.[0]?.stat?.averageConcurrentRequests, 0)
  t.equal(reporter.trackedCount, 0, 'then dropped')
  clock.advance(1000)
  reporter.report()
  t.equal(sink.batches.length, 3, 'nothing tracked: no batch')
  rc.reqIn(clock.nowMs())
  t.equal(sink.batches.length, 4)
  t.equal(sink.batches[3]?.[0]?.stat?.averageConcurrentRequests, 1, 'poked again')
})

t.test('an entry with a request in flight is never dropped', async (t) => {
  const { clock, reporter } = setup()
  const rc = reporter.register('default', 'r')
  rc.reqIn(clock.nowMs())
  for (let i = 0; i < 3; i++) { clock.advance(1000); reporter.report() }
  t.equal(reporter.trackedCount, 1)
  t.equal(rc.inFlight, 1)
})

t.test('one batch per period for all tracked revisions; no sink means no sends', async (t) => {
  const { clock, sink, reporter } = setup()
  const a = reporter.register('default', 'a')
  const b = reporter.register('other', 'b')
  reporter.register('default', 'idle')
  a.reqIn(clock.nowMs()); b.reqIn(clock.nowMs())
  clock.advance(1000)
  const batch = reporter.report()
  t.equal(batch.length, 2)
  t.same(sink.batches[2]?.map((m) => `${m.namespace}/${m.name}`), ['default/a', 'other/b'])
  t.equal(reporter.entries().length, 3, 'metrics list every registered revision')

  const quiet = new ConcurrencyReporter({ podName: 'p', sink: null, clock })
  const rc = quiet.register('default', 'x')
  rc.reqIn(clock.nowMs())
  clock.advance(1000)
  t.equal(quiet.report().length, 1, 'stats kept without a sink')
  t.equal(quiet.pokesSent, 0)
})

t.test('a throwing sink does not break the request path', async (t) => {
  const clock = new ManualClock(0)
  const reporter = new ConcurrencyReporter({ podName: 'p', sink: { send () { throw new Error('boom') } }, clock })
  const rc = reporter.register('default', 'x')
  t.doesNotThrow(() => { rc.reqIn(0) })
  clock.advance(1000)
  t.doesNotThrow(() => reporter.report())
})

t.test('start reports once per period on the injected timers; stop ends it', async (t) => {
  const clock = new ManualClock(1000)
  const timers = new ManualTimers(clock)
  const sink = new RecordingSink()
  const reporter = new ConcurrencyReporter({ podName: 'activator-0', sink, clock, timers })
  reporter.start()
  reporter.start()
  t.equal(timers.size, 1, 'start is idempotent')
  reporter.register('default', 'hello-00001').reqIn(clock.nowMs())
  t.equal(sink.batches.length, 1, 'the poke')
  await timers.advance(999)
  t.equal(sink.batches.length, 1, 'no report before the period ends')
  await timers.advance(1)
  t.equal(sink.batches.length, 2, 'a report at 1000 ms')
  await timers.advance(1000)
  t.equal(sink.batches.length, 3, 'and every 1000 ms')
  reporter.stop()
  t.equal(timers.size, 0, 'stop cancelled the timer')
  await timers.advance(5000)
  t.equal(sink.batches.length, 3, 'no report after stop')
})

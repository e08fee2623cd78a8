// Drainer: Knative's drain (knative.dev/pkg network/handlers/drain.go) on ManualTimers. Once
// draining, it completes after a quiet period with no request; each request restarts the period,
// up to maxMs. "Drained at 1,600 ms" is fake time.
import t from 'tap'
import { Drainer } from '../../src/server/drainer.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

function setup (quietMs: number, maxMs: number): { drainer: Drainer, timers: ManualTimers, clock: ManualClock, drainedAt: () => Promise<number> } {
  const clock = new ManualClock(0)
  const timers = new ManualTimers(clock)
  const drainer = new Drainer({ quietMs, maxMs, logger: silentLogger(), now: () => clock.nowMs(), timers })
  return {
    drainer,
    timers,
    clock,
    drainedAt: async () => { await drainer.drain(); return clock.nowMs() },
  }
}

/** Records the fake time at which `p` settles (-1 while pending). */
function stamp (p: Promise<void>, clock: ManualClock): { at: number } {
  const s = { at: -1 }
  p.then(() => { s.at = clock.nowMs() }, () => {})
  return s
}

t.test('not draining until told; drained after a quiet period with no request', async (t) => {
  const { drainer, timers, clock } = setup(1_000, 30_000)
  t.equal(drainer.isDraining, false)
  const done = stamp(drainer.drain(), clock)
  t.equal(drainer.isDraining, true)
  await timers.advance(999)
  t.equal(done.at, -1, 'not at 999 ms')
  await timers.advance(1)
  t.equal(done.at, 1_000)
})

t.test('each request restarts the quiet period', async (t) => {
  const { drainer, timers, clock } = setup(1_000, 30_000)
  const done = stamp(drainer.drain(), clock)
  await timers.advance(600)
  drainer.touch()
  await timers.advance(999)
  t.equal(done.at, -1, '999 ms after the request at 600 ms')
  await timers.advance(1)
  t.equal(done.at, 1_600)
})

t.test('requests that keep arriving cannot hold the drain open past maxMs', async (t) => {
  const { drainer, timers, clock } = setup(1_000, 3_000)
  const done = stamp(drainer.drain(), clock)
  for (let i = 0; i < 10 && done.at < 0; i++) {
    await timers.advance(500)
    drainer.touch()
  }
  t.equal(done.at, 3_000)
})

t.test('drain() twice returns the same wait', async (t) => {
  const { drainer } = setup(1_000, 30_000)
  t.equal(drainer.drain(), drainer.drain())
})

t.test('reset: back to serving, the pending wait resolves, a later drain starts afresh', async (t) => {
  const { drainer, timers, clock } = setup(1_000, 30_000)
  const first = stamp(drainer.drain(), clock)
  await timers.advance(400)
  drainer.reset()
  await timers.advance(0)
  t.equal(first.at, 400, 'the waiter is released by the reset')
  t.equal(drainer.isDraining, false)
  t.equal(timers.size, 0, 'no timer left')
  const second = stamp(drainer.drain(), clock)
  await timers.advance(999)
  t.equal(second.at, -1)
  await timers.advance(1)
  t.equal(second.at, 1_400, 'a full quiet period from the new drain')
})

t.test('close cancels the timer: the drain never completes on its own', async (t) => {
  const { drainer, timers, clock } = setup(1_000, 30_000)
  const done = stamp(drainer.drain(), clock)
  drainer.close()
  t.equal(timers.size, 0)
  await timers.advance(60_000)
  t.equal(done.at, -1)
})

t.test('a quiet period of 0 drains on the next timer turn', async (t) => {
  const { drainedAt, timers } = setup(0, 30_000)
  const at = drainedAt()
  await timers.advance(0)
  t.equal(await at, 0)
})

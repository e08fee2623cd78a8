// DeadlineSweeper: one shared interval for every request's deadlines. Driven by ManualTimers on a
// ManualClock, so "fires at 150 ms" means at fake time 150, whatever the machine's load.
import t from 'tap'
import { DeadlineSweeper, DEFAULT_TICK_MS, type SweepNode } from '../../src/proxy/deadline-sweeper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers, type TimerHandle, type Timers } from '../../src/shared/timers.ts'

/** ManualTimers, counting how often the interval is armed. */
class FakeSweeperTimers implements Timers {
  readonly timers: ManualTimers
  armed = 0
  constructor (timers: ManualTimers) { this.timers = timers }
  setTimeout (fn: () => void, ms: number): TimerHandle { return this.timers.setTimeout(fn, ms) }
  setInterval (fn: () => void, ms: number): TimerHandle {
    this.armed++
    return this.timers.setInterval(fn, ms)
  }
}

/** A member with one deadline; records the fake time of each check and when it expired. */
class Deadline implements SweepNode {
  sweepPrev: SweepNode | null = null
  sweepNext: SweepNode | null = null
  isSwept = false
  readonly dueMs: number
  readonly sweeper: DeadlineSweeper
  readonly checks: number[] = []
  firedAtMs = -1
  constructor (sweeper: DeadlineSweeper, dueMs: number) {
    this.sweeper = sweeper
    this.dueMs = dueMs
  }

  checkDeadlines (nowMs: number): void {
    this.checks.push(nowMs)
    if (nowMs >= this.dueMs) {
      this.firedAtMs = nowMs
      this.sweeper.remove(this) // as ProxyExchange does when it fails
    }
  }
}

/** Timers that keep the process alive (unref'd ones are not listed). */
function refTimers (): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

function setup (tickMs = 50): { clock: ManualClock, timers: ManualTimers, fake: FakeSweeperTimers, sweeper: DeadlineSweeper } {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const fake = new FakeSweeperTimers(timers)
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), tickMs, fake)
  return { clock, timers, fake, sweeper }
}

t.test('a deadline fires on the first tick at or after it, not before', async (t) => {
  const { timers, sweeper } = setup(50)
  const d = new Deadline(sweeper, 120)
  sweeper.add(d)
  await timers.advance(149)
  t.same(d.checks, [50, 100], 'checked once per tick')
  t.equal(d.firedAtMs, -1, 'not expired at 100 ms')
  await timers.advance(1)
  t.equal(d.firedAtMs, 150, 'expired on the tick at 150 ms (precision: one tick)')
  t.equal(sweeper.size, 0, 'it removed itself')
  await timers.advance(500)
  t.same(d.checks, [50, 100, 150], 'never checked again')
})

t.test('the default tick is 50 ms', async (t) => {
  t.equal(DEFAULT_TICK_MS, 50)
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), undefined, new FakeSweeperTimers(timers))
  const d = new Deadline(sweeper, 0)
  sweeper.add(d)
  await timers.advance(49)
  t.equal(d.firedAtMs, -1)
  await timers.advance(1)
  t.equal(d.firedAtMs, 50)
})

t.test('each member expires at its own deadline', async (t) => {
  const { timers, sweeper } = setup(10)
  const ds = [35, 10, 100, 60].map((due) => new Deadline(sweeper, due))
  for (const d of ds) sweeper.add(d)
  t.equal(sweeper.size, 4)
  await timers.advance(200)
  t.same(ds.map((d) => d.firedAtMs), [40, 10, 100, 60])
  t.equal(sweeper.size, 0)
})

t.test('the interval runs only while something is in flight', async (t) => {
  const { timers, fake, sweeper } = setup(50)
  t.equal(timers.size, 0, 'idle: no timer')
  const a = new Deadline(sweeper, 1_000)
  const b = new Deadline(sweeper, 1_000)
  sweeper.add(a)
  sweeper.add(b)
  t.equal(timers.size, 1, 'one interval for any number of members')
  t.equal(fake.armed, 1)
  sweeper.remove(a)
  t.equal(timers.size, 1, 'still armed while one member remains')
  sweeper.remove(b)
  t.equal(timers.size, 0, 'disarmed with the last member')
})

t.test('a removed member is never checked (cancel), and removing twice is a no-op', async (t) => {
  const { timers, sweeper } = setup(50)
  const kept = new Deadline(sweeper, 100)
  const cancelled = new Deadline(sweeper, 100)
  sweeper.add(kept)
  sweeper.add(cancelled)
  await timers.advance(50)
  sweeper.remove(cancelled)
  sweeper.remove(cancelled)
  t.equal(sweeper.size, 1)
  t.equal(cancelled.isSwept, false)
  t.equal(cancelled.sweepNext, null, 'unlinked')
  await timers.advance(100)
  t.same(cancelled.checks, [50], 'no check after the cancel')
  t.equal(cancelled.firedAtMs, -1)
  t.equal(kept.firedAtMs, 100)
})

t.test('adding a member twice links it once', async (t) => {
  const { timers, sweeper } = setup(50)
  const d = new Deadline(sweeper, 1_000)
  sweeper.add(d)
  sweeper.add(d)
  t.equal(sweeper.size, 1)
  await timers.advance(100)
  t.same(d.checks, [50, 100], 'checked once per tick, not twice')
})

t.test('re-arms after going idle: a later member gets ticks counted from its own arrival', async (t) => {
  const { clock, timers, fake, sweeper } = setup(50)
  const first = new Deadline(sweeper, 20)
  sweeper.add(first)
  await timers.advance(50)
  t.equal(first.firedAtMs, 50)
  t.equal(timers.size, 0, 'idle again')
  await timers.advance(1_000) // nothing ticks while idle
  t.equal(clock.nowMs(), 1_050)
  const second = new Deadline(sweeper, 1_100)
  sweeper.add(second)
  t.equal(fake.armed, 2, 're-armed')
  await timers.advance(49)
  t.same(second.checks, [], 'the new interval starts at the add, not on the old phase')
  await timers.advance(1)
  t.same(second.checks, [1_100])
  t.equal(second.firedAtMs, 1_100)
})

t.test('a member removed and added again is swept again (re-arm of one deadline)', async (t) => {
  const { timers, sweeper } = setup(50)
  const d = new Deadline(sweeper, 75)
  sweeper.add(d)
  sweeper.remove(d)
  await timers.advance(100)
  t.same(d.checks, [], 'nothing while out')
  sweeper.add(d)
  await timers.advance(50)
  t.equal(d.firedAtMs, 150)
})

t.test('members that expire in the same sweep do not stop the walk', async (t) => {
  const { sweeper, clock } = setup(50)
  // Removal of the member being checked happens mid-walk: the next one must still be reached.
  const ds = [10, 10, 10, 10, 1_000].map((due) => new Deadline(sweeper, due))
  for (const d of ds) sweeper.add(d)
  clock.advance(20)
  sweeper.sweep()
  t.same(ds.map((d) => d.checks.length), [1, 1, 1, 1, 1], 'every member checked once')
  t.equal(sweeper.size, 1, 'only the one not yet due remains')
})

t.test('a member added during a sweep is checked from the next tick', async (t) => {
  const { timers, sweeper } = setup(50)
  const late = new Deadline(sweeper, 0)
  const adder: SweepNode = {
    sweepPrev: null,
    sweepNext: null,
    isSwept: false,
    checkDeadlines (): void { sweeper.remove(adder); sweeper.add(late) },
  }
  sweeper.add(adder)
  await timers.advance(50)
  t.same(late.checks, [], 'not visited in the sweep that added it')
  await timers.advance(50)
  t.same(late.checks, [100])
})

t.test('close stops the interval; sweep() still works for a manual driver', async (t) => {
  const { timers, clock, sweeper } = setup(50)
  const d = new Deadline(sweeper, 100)
  sweeper.add(d)
  sweeper.close()
  t.equal(timers.size, 0)
  await timers.advance(500)
  t.same(d.checks, [], 'no ticks after close')
  sweeper.close() // twice is harmless
  t.equal(clock.nowMs(), 500)
  sweeper.sweep()
  t.equal(d.firedAtMs, 500)
})

t.test('the real timers: an unref\'d interval that fires and is cleared', async (t) => {
  // The only test on real time here: it checks the wiring to setInterval, not a deadline.
  let now = 0
  const sweeper = new DeadlineSweeper(() => now, 1)
  // The interval is unref'd (it must not hold a process open), so this ref'd timer keeps the
  // test process alive until it fires; it bounds nothing that is asserted.
  const keepAlive = setTimeout(() => {}, 30_000)
  t.teardown(() => { clearTimeout(keepAlive) })
  const fired = new Promise<number>((resolve) => {
    const node: SweepNode = {
      sweepPrev: null,
      sweepNext: null,
      isSwept: false,
      checkDeadlines (nowMs: number): void { sweeper.remove(node); resolve(nowMs) },
    }
    const refTimersBefore = refTimers()
    sweeper.add(node)
    t.equal(refTimers(), refTimersBefore, 'the interval does not hold the process open')
  })
  now = 42
  t.equal(await fired, 42)
  t.equal(sweeper.size, 0)
  sweeper.close()
})

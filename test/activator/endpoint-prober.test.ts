import t from 'tap'
import { EndpointProber } from '../../src/activator/endpoint-prober.ts'
import type { EndpointProbe } from '../../src/proxy/endpoint-probe.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

async function flush (): Promise<void> { for (let i = 0; i < 5; i++) await Promise.resolve() }

/** A probe whose answers are scripted; records when each attempt started. */
class ScriptedProbe implements EndpointProbe {
  readonly timers: ManualTimers
  readonly answers: boolean[]
  attemptsAt: number[] = []
  constructor (timers: ManualTimers, answers: boolean[]) { this.timers = timers; this.answers = answers }
  async probe (_dest: string, _timeoutMs: number): Promise<boolean> {
    this.attemptsAt.push(this.timers.clock.nowMs())
    return this.answers.shift() ?? false
  }
}

const schedule = { initialIntervalMs: 50, maxIntervalMs: 200, factor: 2, timeoutMs: 300 }

t.test('probes at once, then backs off until success, then stops', async (t) => {
  const timers = new ManualTimers(new ManualClock(0))
  const probe = new ScriptedProbe(timers, [false, false, false, false, true])
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers, timers.clock)
  prober.start()
  await flush()
  t.same(probe.attemptsAt, [0], 'first attempt immediately')
  await timers.advance(1000)
  t.same(probe.attemptsAt, [0, 50, 150, 350, 550], 'gaps 50, 100, 200, then capped at 200')
  t.equal(successes, 1)
  t.notOk(prober.isRunning)
  t.equal(timers.size, 0, 'no timer left once ready')
})

t.test('a restart (endpoint failed) probes aggressively again', async (t) => {
  const timers = new ManualTimers(new ManualClock(0))
  const probe = new ScriptedProbe(timers, [false, false, true, false, true])
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers, timers.clock)
  prober.start()
  await flush()
  await timers.advance(500)
  t.equal(successes, 1)
  probe.attemptsAt = []
  prober.start()
  await flush()
  await timers.advance(500)
  t.same(probe.attemptsAt, [500, 550])
  t.equal(successes, 2)
})

t.test('stop cancels the timer and ignores an attempt in flight', async (t) => {
  const timers = new ManualTimers(new ManualClock(0))
  let resolve: (ok: boolean) => void = () => {}
  const probe: EndpointProbe = { probe: () => new Promise<boolean>((r) => { resolve = r }) }
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers, timers.clock)
  prober.start()
  prober.stop()
  resolve(true)
  await flush()
  t.equal(successes, 0, 'a result from a stopped run is dropped')
  t.equal(timers.size, 0)
})

t.test('stop cancels the timer before the next attempt', async (t) => {
  const timers = new ManualTimers(new ManualClock(0))
  const probe = new ScriptedProbe(timers, [false, true])
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers, timers.clock)
  prober.start()
  await flush()
  t.equal(timers.size, 1, 'the next attempt is scheduled after a failure')
  prober.stop()
  t.equal(timers.size, 0, 'stop cancelled it')
  await timers.advance(1000)
  t.same(probe.attemptsAt, [0], 'no attempt after stop')
  t.equal(successes, 0)
})

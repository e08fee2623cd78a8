import t from 'tap'
import { EndpointProber, type ProberTimers } from '../../src/activator/endpoint-prober.ts'
import type { EndpointProbe } from '../../src/proxy/endpoint-probe.ts'

/** Fake timers over a manual clock: `advance` fires due timeouts in order. */
class FakeTimers implements ProberTimers {
  nowMs = 0
  #seq = 0
  pending: Array<{ id: number, due: number, fn: () => void }> = []
  setTimeout (fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.pending.push({ id, due: this.nowMs + ms, fn })
    return id
  }
  clearTimeout (handle: unknown): void { this.pending = this.pending.filter((p) => p.id !== handle) }
  now (): number { return this.nowMs }
  async advance (ms: number): Promise<void> {
    const end = this.nowMs + ms
    for (;;) {
      this.pending.sort((a, b) => a.due - b.due)
      const next = this.pending[0]
      if (next === undefined || next.due > end) break
      this.pending.shift()
      this.nowMs = next.due
      next.fn()
      await flush()
    }
    this.nowMs = end
    await flush()
  }
}

async function flush (): Promise<void> { for (let i = 0; i < 5; i++) await Promise.resolve() }

/** A probe whose answers are scripted; records when each attempt started. */
class ScriptedProbe implements EndpointProbe {
  readonly timers: FakeTimers
  readonly answers: boolean[]
  attemptsAt: number[] = []
  constructor (timers: FakeTimers, answers: boolean[]) { this.timers = timers; this.answers = answers }
  async probe (_dest: string, _timeoutMs: number): Promise<boolean> {
    this.attemptsAt.push(this.timers.nowMs)
    return this.answers.shift() ?? false
  }
}

const schedule = { initialIntervalMs: 50, maxIntervalMs: 200, factor: 2, timeoutMs: 300 }

t.test('probes at once, then backs off until success, then stops', async (t) => {
  const timers = new FakeTimers()
  const probe = new ScriptedProbe(timers, [false, false, false, false, true])
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers)
  prober.start()
  await flush()
  t.same(probe.attemptsAt, [0], 'first attempt immediately')
  await timers.advance(1000)
  t.same(probe.attemptsAt, [0, 50, 150, 350, 550], 'gaps 50, 100, 200, then capped at 200')
  t.equal(successes, 1)
  t.notOk(prober.isRunning)
  t.equal(timers.pending.length, 0, 'no timer left once ready')
})

t.test('a restart (endpoint failed) probes aggressively again', async (t) => {
  const timers = new FakeTimers()
  const probe = new ScriptedProbe(timers, [false, false, true, false, true])
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers)
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
  const timers = new FakeTimers()
  let resolve: (ok: boolean) => void = () => {}
  const probe: EndpointProbe = { probe: () => new Promise<boolean>((r) => { resolve = r }) }
  let successes = 0
  const prober = new EndpointProber('10.0.0.1:8012', probe, { onProbeSuccess: () => { successes++ } }, schedule, timers)
  prober.start()
  prober.stop()
  resolve(true)
  await flush()
  t.equal(successes, 0, 'a result from a stopped run is dropped')
  t.equal(timers.pending.length, 0)
})

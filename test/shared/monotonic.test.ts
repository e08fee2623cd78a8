import t from 'tap'
import { monotonicMs } from '../../src/shared/monotonic.ts'
import { realClock } from '../../src/shared/clock.ts'

t.test('monotonicMs is process.hrtime in milliseconds, and the real clock reads it', async (t) => {
  const a = monotonicMs()
  const ref = Number(process.hrtime.bigint()) / 1e6
  const b = realClock.nowMs()
  t.ok(ref - a >= 0 && ref - a < 50, `hrtime ${ref} vs ${a} ms`)
  t.ok(b >= a, 'does not go backwards')
})

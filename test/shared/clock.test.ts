import t from 'tap'
import { realClock } from '../../src/shared/clock.ts'
t.test('clock advances', async (t) => { const a = realClock.nowMs(); t.ok(realClock.nowMs() >= a) })

// The shutdown paths' bounded waits. These run on real timers (control plane, once per process);
// the assertions are about what settles, not about how long it took.
import t from 'tap'
import { waitUntil, withTimeout } from '../../src/server/drain-waits.ts'

t.test('withTimeout: settles with the promise, resolved or rejected', async (t) => {
  await withTimeout(Promise.resolve(), 60_000)
  await withTimeout(Promise.reject(new Error('drain failed')), 60_000)
  t.pass('a rejection resolves the wait: a failed drain must not block shutdown')
})

t.test('withTimeout: a promise that never settles is cut by the bound', async (t) => {
  await withTimeout(new Promise<void>(() => {}), 5)
  t.pass('resolved by the timer')
})

t.test('withTimeout: no bound for 0, a negative, NaN or Infinity: the promise itself', async (t) => {
  const p = Promise.resolve()
  for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) t.equal(withTimeout(p, ms), p, String(ms))
})

t.test('waitUntil: resolves once the condition holds, polling', async (t) => {
  // The poll timer is unref'd (a drain must not hold the process open): this keeps the test alive.
  const keepAlive = setTimeout(() => {}, 30_000)
  t.teardown(() => { clearTimeout(keepAlive) })
  let checks = 0
  await waitUntil(() => ++checks >= 2)
  t.equal(checks, 2, 'polled until true, then stopped')
})

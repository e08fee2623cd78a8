// ActiveRequests: the count a drain waits on. whenIdle resolves at once when idle, else on the
// decrement that reaches zero, for every waiter, once.
import t from 'tap'
import { ActiveRequests } from '../../src/server/active-requests.ts'

/** Whether `p` has settled by the time already-queued microtasks ran. */
async function isSettled (p: Promise<void>): Promise<boolean> {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return settled
}

t.test('idle: whenIdle resolves at once', async (t) => {
  const a = new ActiveRequests()
  t.equal(a.count, 0)
  t.ok(await isSettled(a.whenIdle()))
})

t.test('busy: every waiter resolves on the decrement that reaches zero, not before', async (t) => {
  const a = new ActiveRequests()
  a.inc()
  a.inc()
  const w1 = a.whenIdle()
  const w2 = a.whenIdle()
  a.dec()
  t.equal(a.count, 1)
  t.notOk(await isSettled(w1), 'one request still in flight')
  a.dec()
  t.equal(a.count, 0)
  t.ok(await isSettled(w1))
  t.ok(await isSettled(w2))
})

t.test('after going idle and busy again, new waiters wait for the new zero', async (t) => {
  const a = new ActiveRequests()
  a.inc()
  const first = a.whenIdle()
  a.dec()
  t.ok(await isSettled(first))
  a.inc()
  const second = a.whenIdle()
  t.notOk(await isSettled(second))
  a.dec()
  t.ok(await isSettled(second))
})

// The sidecar's admin port: /wait-for-drain (the user container's preStop hook) drains and answers
// once the quiet period passed; without a SIGTERM within 1 s the drain is reset, as Knative's
// adminHandler does for a container restart. Real sockets; the drainer and the reset run on
// ManualTimers, so "answered at 1,000 ms" is fake time.
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Drainer } from '../../src/server/drainer.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { createAdminServer, DRAIN_PATH, DRAIN_RESET_MS } from '../../src/sidecar/admin-server.ts'

interface Reply { status: number, body: string }

async function setup (t: { teardown (fn: () => void): void }, terminating: { value: boolean }): Promise<{ timers: ManualTimers, drainer: Drainer, get (path: string): Promise<Reply> }> {
  const clock = new ManualClock(0)
  const timers = new ManualTimers(clock)
  const drainer = new Drainer({ quietMs: 3_000, maxMs: 30_000, logger: silentLogger(), now: () => clock.nowMs(), timers })
  const admin = createAdminServer({ drainer, logger: silentLogger(), isTerminating: () => terminating.value, timers })
  await new Promise<void>((resolve) => { admin.net.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { admin.close() })
  const port = (admin.net.address() as AddressInfo).port
  const get = async (path: string): Promise<Reply> => await new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.end()
  })
  return { timers, drainer, get }
}

/** Settles `p` into a stamp of whether it is done, without waiting for it. */
function watch<T> (p: Promise<T>): { done: boolean, value: T | null } {
  const w: { done: boolean, value: T | null } = { done: false, value: null }
  p.then((v) => { w.done = true; w.value = v }, () => { w.done = true })
  return w
}

async function untilStarted (drainer: Drainer): Promise<void> {
  while (!drainer.isDraining) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

t.test('other paths are 404', async (t) => {
  const { get, drainer } = await setup(t, { value: true })
  t.same(await get('/'), { status: 404, body: 'not found\n' })
  t.same(await get('/wait-for-drainage'), { status: 404, body: 'not found\n' })
  t.equal(drainer.isDraining, false)
})

t.test('after SIGTERM: the preStop call drains and is answered once the quiet period passed', async (t) => {
  t.equal(DRAIN_PATH, '/wait-for-drain')
  const { get, drainer, timers } = await setup(t, { value: true })
  const reply = watch(get(`${DRAIN_PATH}?x=1`))
  await untilStarted(drainer)
  await timers.advance(DRAIN_RESET_MS)
  t.equal(drainer.isDraining, true, 'a terminating pod is not reset')
  await timers.advance(3_000 - DRAIN_RESET_MS - 1)
  t.equal(reply.done, false, 'not before the quiet period')
  await timers.advance(1)
  while (!reply.done) await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.same(reply.value, { status: 200, body: 'drained\n' })
})

t.test('no SIGTERM within 1 s: the drain is reset (a container restart) and the call answered then', async (t) => {
  const { get, drainer, timers } = await setup(t, { value: false })
  const reply = watch(get(DRAIN_PATH))
  await untilStarted(drainer)
  await timers.advance(DRAIN_RESET_MS - 1)
  t.equal(drainer.isDraining, true)
  await timers.advance(1)
  t.equal(drainer.isDraining, false, 'probes pass again')
  while (!reply.done) await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.same(reply.value, { status: 200, body: 'drained\n' })
})

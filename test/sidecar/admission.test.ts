import { request } from 'node:http'
import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { send, sleep, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

test('upstream never sees more than CONTAINER_CONCURRENCY in flight; queued requests are served FIFO', async (t, stack) => {
  const order: string[] = []
  const hold: Array<() => void> = []
  const app = await startApp(t, (req, res) => {
    order.push(req.url ?? '')
    hold.push(() => { res.end(req.url) })
  })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2' }, stack.argv)
  const replies: Array<Promise<unknown>> = []
  for (let i = 0; i < 12; i++) {
    replies.push(send(`${url}/${i}`))
    // Arrival order = index order: each request is in the app or the queue before the next is sent.
    await until(() => app.inFlight + (sidecar.breaker?.queued ?? 0) === i + 1, 2000, `request ${i} admitted or queued`)
  }
  let settled = false
  const all = Promise.all(replies).finally(() => { settled = true })
  while (!settled) { const h = hold.shift(); if (h !== undefined) h(); else await sleep(2) }
  const results = await all as Array<{ status: number }>
  t.ok(results.every((r) => r.status === 200), 'all served')
  t.equal(app.maxInFlight, 2, 'never above CC')
  t.same(order, Array.from({ length: 12 }, (_, i) => `/${i}`), 'FIFO')
  t.equal(sidecar.breaker?.inFlight, 0, 'every slot returned')
  t.equal(sidecar.breaker?.queued, 0)
})

test('a request over slots and queue gets 503 "pending request queue full" at once', async (t, stack) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (_req, res) => { hold.push(() => res.end('ok')) })
  // The injected clock stands still: the 503 cannot come from any timeout.
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, [...stack.argv, '--queue-depth', '2'], { clock: new ManualClock() })
  const inside = [send(url), send(url), send(url)]
  await until(() => sidecar.breaker?.queued === 2 && app.inFlight === 1, 2000, '1 running + 2 queued')
  const over = await send(url)
  t.equal(over.status, 503)
  t.equal(over.body, 'pending request queue full\n')
  t.equal(sidecar.breaker?.queued, 2, 'rejected at once: the two queued requests are still waiting')
  t.equal(sidecar.metrics.overflow503, 1)
  let settled = false
  const all = Promise.all(inside).finally(() => { settled = true })
  while (!settled) { const h = hold.shift(); if (h !== undefined) h(); else await sleep(5) }
  const done = await all
  t.same(done.map((r) => r.status), [200, 200, 200])
})

test('queue depth defaults to 10 x CC', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.end() })
  const { sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '3' }, stack.argv)
  t.equal(sidecar.breaker?.queueDepth, 30)
})

test('CC=0 means no limit and no queue', async (t, stack) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (_req, res) => { hold.push(() => res.end('ok')) })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '0' }, stack.argv)
  t.equal(sidecar.breaker, null)
  const all = Array.from({ length: 40 }, () => send(url))
  await until(() => app.inFlight === 40, 3000, '40 in flight')
  for (const h of hold) h()
  t.ok((await Promise.all(all)).every((r) => r.status === 200))
})

test('a client that disconnects while queued leaves the queue', async (t, stack) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (req, res) => { hold.push(() => res.end(req.url)) })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const first = send(`${url}/first`)
  await until(() => app.inFlight === 1)
  const ac = new AbortController()
  const gone = send(`${url}/gone`, { signal: ac.signal }).catch((err: Error) => err)
  await until(() => sidecar.breaker?.queued === 1, 2000, 'queued')
  ac.abort()
  await gone
  await until(() => sidecar.breaker?.queued === 0, 2000, 'queue emptied by the disconnect')
  const third = send(`${url}/third`)
  await until(() => sidecar.breaker?.queued === 1)
  const h1 = hold.shift(); if (h1 !== undefined) h1()
  t.equal((await first).body, '/first')
  await until(() => hold.length === 1, 2000, 'third reaches the app')
  const h2 = hold.shift(); if (h2 !== undefined) h2()
  t.equal((await third).body, '/third', 'the abandoned request never reached the app')
  t.equal(app.requests, 2)
  t.equal(sidecar.handler.active, 0)
})

test('a client that disconnects mid-response frees its slot', async (t, stack) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/stream') { res.writeHead(200); res.write('partial'); return } // never ends
    res.end('next')
  })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  await new Promise<void>((resolve, reject) => {
    const req = request(`${url}/stream`, { agent: false }, (res) => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', (err) => { if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err) })
    req.end()
  })
  await until(() => sidecar.breaker?.inFlight === 0, 2000, 'slot released')
  await until(() => app.inFlight === 0, 2000, 'upstream request aborted too')
  const r = await send(`${url}/next`)
  t.equal(r.body, 'next')
})

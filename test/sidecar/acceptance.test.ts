// Issue 3's test list, at the sizes it names: 200 parallel, exact overflow counts, 1,000 requests
// with 20% aborted, upstream down then back, SIGTERM with 100 in flight.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Agent, request } from 'undici'
import { childEnv, send, sleep, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

t.test('concurrency never exceeds CC under 200 parallel requests', async (t) => {
  const app = await startApp(t, (_req, res) => { setTimeout(() => { res.end('ok') }, 5) })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '10' }, ['--queue-depth', '200'])
  const agent = new Agent({ connections: 200 })
  t.teardown(() => agent.close())
  const statuses = await Promise.all(Array.from({ length: 200 }, async () => {
    const r = await request(url, { dispatcher: agent })
    await r.body.text()
    return r.statusCode
  }))
  t.ok(statuses.every((s) => s === 200), 'all 200 served')
  t.equal(app.requests, 200)
  t.ok(app.maxInFlight <= 10, `max in flight at the app: ${app.maxInFlight}`)
  t.equal(sidecar.breaker?.inFlight, 0)
})

t.test('overflow: exactly the requests beyond CC + queue depth get 503', async (t) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (_req, res) => { hold.push(() => res.end('ok')) })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2' }, ['--queue-depth', '3'])
  const all = Array.from({ length: 20 }, () => send(url))
  await until(() => sidecar.metrics.overflow503 === 15, 3000, '15 rejected')
  t.equal(sidecar.breaker?.inFlight, 2)
  t.equal(sidecar.breaker?.queued, 3)
  let settled = false
  const done = Promise.all(all).finally(() => { settled = true })
  while (!settled) { const h = hold.shift(); if (h !== undefined) h(); else await sleep(5) }
  const statuses = (await done).map((r) => r.status)
  t.equal(statuses.filter((s) => s === 503).length, 15)
  t.equal(statuses.filter((s) => s === 200).length, 5)
})

t.test('1,000 requests with 20% aborted mid-flight leave 0 busy slots and no ghost in the queue', async (t) => {
  const app = await startApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('part one;')
    setTimeout(() => { res.end('part two') }, 10)
  })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '10' }, ['--queue-depth', '1000'])
  const agent = new Agent({ connections: 100 })
  t.teardown(() => agent.destroy())
  let ok = 0
  let aborted = 0
  let other = 0
  const one = async (i: number): Promise<void> => {
    const ac = new AbortController()
    // Every fifth request is abandoned at a random moment: while queued, waiting or mid-body.
    if (i % 5 === 0) setTimeout(() => { ac.abort() }, Math.random() * 25)
    try {
      const r = await request(url, { dispatcher: agent, signal: ac.signal })
      const body = await r.body.text()
      if (r.statusCode === 200 && body === 'part one;part two') ok++
      else other++
    } catch {
      aborted++
    }
  }
  // 1,000 requests, at most 100 outstanding.
  let next = 0
  await Promise.all(Array.from({ length: 100 }, async () => {
    while (next < 1000) await one(next++)
  }))
  t.equal(ok + aborted + other, 1000)
  t.equal(other, 0, 'no request got a wrong answer')
  t.ok(aborted > 0 && aborted <= 200, `${aborted} aborted`)
  await until(() => sidecar.handler.active === 0, 3000, 'no request left inside the sidecar')
  t.equal(sidecar.breaker?.inFlight, 0, '0 busy slots')
  t.equal(sidecar.breaker?.queued, 0, 'no ghost in the queue')
  await until(() => app.inFlight === 0, 3000, 'no request left at the app')
  const after = await send(url)
  t.equal(after.status, 200, 'full capacity afterwards')
})

t.test('upstream down -> 502, then recovery when it is back', async (t) => {
  const first = createServer((_req, res) => { res.end('v1') })
  await new Promise<void>((resolve) => { first.listen(0, '127.0.0.1', resolve) })
  const addr = first.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const { url } = await startSidecar(t, port, { CONTAINER_CONCURRENCY: '4' })
  t.equal((await send(url)).body, 'v1')
  first.closeAllConnections()
  await new Promise<void>((resolve) => { first.close(() => { resolve() }) })
  const down = await Promise.all(Array.from({ length: 5 }, () => send(url)))
  t.same(down.map((r) => r.status), [502, 502, 502, 502, 502])
  const second = createServer((_req, res) => { res.end('v2') })
  t.teardown(() => { second.closeAllConnections(); second.close() })
  await new Promise<void>((resolve) => { second.listen(port, '127.0.0.1', resolve) })
  const back = await Promise.all(Array.from({ length: 5 }, () => send(url)))
  t.same(back.map((r) => r.body), ['v2', 'v2', 'v2', 'v2', 'v2'])
})

t.test('SIGTERM with 100 in flight: all complete, the process exits 0', async (t) => {
  // The app holds every response until the sidecar logs that it is draining, so all 100 are in
  // flight at the SIGTERM however slowly they arrive.
  const held: Array<() => void> = []
  const app = await startApp(t, (_req, res) => { held.push(() => { res.end('done') }) })
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const child = spawn(process.execPath, [bin, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0.2'], {
    env: childEnv({ USER_PORT: String(app.port), CONTAINER_CONCURRENCY: '0' }),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"'), 10_000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  const agent = new Agent({ connections: 100 })
  t.teardown(() => agent.destroy())
  const inFlight = Array.from({ length: 100 }, async () => {
    const r = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })
    return { status: r.statusCode, body: await r.body.text() }
  })
  await until(() => app.inFlight === 100, 10_000, '100 in flight at the app')
  const exited = new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  child.kill('SIGTERM')
  await until(() => out.includes('"draining"'), 10_000, 'the sidecar draining')
  t.equal(child.exitCode, null, 'still running while its requests are in flight')
  for (const release of held.splice(0)) release()
  const exit = await exited
  const results = await Promise.all(inFlight)
  t.equal(exit, 0)
  t.equal(results.filter((r) => r.status === 200 && r.body === 'done').length, 100, 'all 100 completed')
})

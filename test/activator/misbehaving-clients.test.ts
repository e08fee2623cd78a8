import { createHash } from 'node:crypto'
import t from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Activator } from '../../src/activator/activator-server.ts'
import type { Revision } from '../../src/activator/revision.ts'
import { MB, pathApp, releaseAll, stableFor, startRawApp, tinyFieldNames, UPLOAD, UPSTREAM_FAULTS, upgradeRequest, wsFrame } from '../helpers/misbehaving-apps.ts'
import { parseResponses, rawConnect } from '../helpers/raw-client.ts'
import { createClient, route, send, sleep, spec, startActivator, startFakePod, until, type FakePod } from './fixtures.ts'
import { STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'activator', STACKS)

// Adversarial clients and endpoints against a real activator over real sockets, on each stack
// (H1Server or node:http in front, H1Upstream or undici to the pods). Whatever a client or a pod does, afterwards: the
// activator still answers, the revision's throttler holds no slot and queues nothing, no retry
// is parked, no tracker slot is held, the pod has no request left open and saw none the client
// had abandoned before admission, and nothing was thrown uncaught (tap fails on it).

/** The assertions and teardown of a (sub)test. */
type Tap = Pick<typeof t, 'teardown' | 'equal' | 'ok' | 'match' | 'same' | 'not' | 'notOk' | 'notMatch'>

const ROUTE = 'Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: mis\r\n'

interface Scene {
  activator: Activator
  revision: Revision
  pod: FakePod
  url: string
  port: number
  log: string[]
  holds: Array<() => void>
}

async function readyRevision (activator: Activator, dests: string[], cc: number): Promise<Revision> {
  activator.registry.upsert(spec('mis', dests, cc))
  await until(() => activator.registry.lookup('default', 'mis')?.readyCount === dests.length, 3000, 'endpoints ready')
  const revision = activator.registry.lookup('default', 'mis')
  if (revision === undefined) throw new Error('revision missing')
  return revision
}

async function scene (t: Tap, stack: Stack, cc = 1, argv: string[] = []): Promise<Scene> {
  const log: string[] = []
  const holds: Array<() => void> = []
  const { activator, url, ports } = await startActivator(t, [...stack.argv, ...argv])
  const pod = await startFakePod(t, pathApp(log, holds))
  const revision = await readyRevision(activator, [pod.dest], cc)
  return { activator, revision, pod, url, port: ports.serving, log, holds }
}

/** Nothing held, queued, parked or open anywhere. */
async function settled (s: { activator: Activator, revision: Revision }, pods: Array<{ inFlight: number }>, what: string): Promise<void> {
  const { activator, revision } = s
  await until(() => revision.throttler.inFlight === 0 && revision.throttler.queued === 0 && revision.proxy.parkedCount === 0 &&
    revision.throttler.ready.every((p) => p.inFlight === 0) && activator.active.count === 0 && activator.tunnels.size === 0 &&
    pods.every((p) => p.inFlight === 0), 3000, `${what}: settled`)
}

async function serves (t: Tap, url: string): Promise<void> {
  const r = await send(createClient(t), url, { path: '/ok', headers: route('mis') })
  t.equal(r.status, 200, 'a normal request afterwards gets 200')
  t.equal(r.body, 'ok')
}

/** A request through the activator on a fresh connection (released by `holds`). */
function hold (t: Tap, url: string): Promise<number> {
  return send(createClient(t), url, { path: '/hold', headers: route('mis') }).then((r) => r.status)
}

// --- 1. clients that drop mid-upload ---------------------------------------------------------

const FRAMINGS = [
  { name: 'chunked', head: 'Transfer-Encoding: chunked\r\n', partial: '100000\r\n' + 'a'.repeat(20_000) },
  { name: 'content-length', head: `Content-Length: ${MB}\r\n`, partial: 'a'.repeat(20_000) },
]

const PHASES = [
  { name: 'while the pod reads the body', path: '/read', queued: false, responding: false },
  { name: 'while the pod neither reads nor answers', path: '/idle', queued: false, responding: false },
  { name: 'while buffered in the throttler (CC=1, the slot held)', path: '/read', queued: true, responding: false },
  { name: 'while the pod streams its response and reads the body', path: '/stream-read', queued: false, responding: true },
  { name: 'while the pod streams its response and does not read the body', path: '/stream-noread', queued: false, responding: true },
]

for (const framing of FRAMINGS) {
  for (const phase of PHASES) {
    test(`${framing.name} POST, client gone mid-body ${phase.name}`, async (t, stack) => {
      const s = await scene(t, stack)
      const holder = phase.queued ? hold(t, s.url) : null
      if (holder !== null) await until(() => s.holds.length === 1, 2000, 'holder at the pod')
      const c = await rawConnect(s.port)
      c.socket.write(`POST ${phase.path} HTTP/1.1\r\nHost: x\r\n${ROUTE}${framing.head}\r\n${framing.partial}`)
      if (phase.queued) await until(() => s.revision.throttler.queued === 1, 2000, 'buffered')
      else await until(() => s.pod.requests === 1, 2000, 'request at the pod')
      if (phase.responding) await until(() => c.text().includes('started'), 2000, 'response streaming')
      c.socket.destroy()
      if (phase.queued) {
        await until(() => s.revision.throttler.queued === 0, 2000, 'left the queue')
        releaseAll(s.holds)
        t.equal(await holder, 200, 'the holder is answered')
      }
      await settled(s, [s.pod], 'after the drop')
      t.notOk(s.log.some((e) => e.startsWith(`end ${phase.path}`)), 'the pod never saw the body end')
      if (phase.queued) t.equal(s.pod.requests, 1, 'the abandoned buffered request never reached the pod')
      else t.ok(s.log.includes(`cut ${phase.path}`), 'the pod saw its request cut')
      await serves(t, s.url)
      await settled(s, [s.pod], 'at the end')
    })
  }
}

test('client gone while its retry is parked (its endpoint refused, the other one is full)', async (t, stack) => {
  const log: string[] = []
  const doomedHolds: Array<() => void> = []
  const busyHolds: Array<() => void> = []
  const { activator, url, ports } = await startActivator(t, stack.argv)
  const doomed = await startFakePod(t, pathApp(log, doomedHolds))
  const busy = await startFakePod(t, pathApp(log, busyHolds))
  const revision = await readyRevision(activator, [doomed.dest, busy.dest], 1)
  const holders = [hold(t, url), hold(t, url)]
  await until(() => doomedHolds.length === 1 && busyHolds.length === 1, 2000, 'both endpoints busy')
  releaseAll(doomedHolds)
  await until(() => revision.throttler.inFlight === 1, 2000, 'one slot back')
  await doomed.close() // refuses connections from now on; the activator does not know yet
  const c = await rawConnect(ports.serving)
  c.socket.write(`POST /read HTTP/1.1\r\nHost: x\r\n${ROUTE}Content-Length: 1000\r\n\r\n${'p'.repeat(500)}`)
  await until(() => revision.proxy.parkedCount === 1, 2000, 'retry parked')
  c.socket.destroy()
  await until(() => revision.proxy.parkedCount === 0, 2000, 'the parked retry left')
  releaseAll(busyHolds)
  t.same(await Promise.all(holders), [200, 200])
  await settled({ activator, revision }, [busy], 'parked')
  t.equal(busy.requests, 1, 'the abandoned retry never reached the other endpoint')
  t.notOk(log.some((e) => e.startsWith('end /read')))
  await serves(t, url)
})

// --- 2. half-closing clients -------------------------------------------------------------------

test('headers then half-close before the body: request abandoned, slot returned', async (t, stack) => {
  const s = await scene(t, stack)
  for (const framing of FRAMINGS) {
    const c = await rawConnect(s.port)
    c.socket.end(`POST /read HTTP/1.1\r\nHost: x\r\n${ROUTE}${framing.head}\r\n`)
    await c.closed
    await settled(s, [s.pod], framing.name)
    t.notOk(s.log.some((e) => e.startsWith('end /read')), `${framing.name}: the pod never saw a complete body`)
    t.notOk(/^HTTP\/1\.1 200/.test(c.text()), `${framing.name}: no 200 for a request without its body`)
  }
  await serves(t, s.url)
})

test('half-close after a whole GET, buffered or at the pod: the request is abandoned', async (t, stack) => {
  const s = await scene(t, stack)
  const c = await rawConnect(s.port)
  c.socket.end(`GET /hold HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  await c.closed
  await settled(s, [s.pod], 'abandoned GET')
  releaseAll(s.holds)
  // The same while buffered behind another request.
  const holder = hold(t, s.url)
  await until(() => s.holds.length === 1, 2000, 'slot held')
  const requests = s.pod.requests
  const q = await rawConnect(s.port)
  q.socket.end(`GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  await q.closed
  await until(() => s.revision.throttler.queued === 0, 2000, 'left the queue')
  releaseAll(s.holds)
  t.equal(await holder, 200)
  await settled(s, [s.pod], 'abandoned buffered GET')
  t.equal(s.pod.requests, requests, 'the buffered one never reached the pod')
  await serves(t, s.url)
})

// --- 3. pipelining -----------------------------------------------------------------------------

test('three pipelined GETs in one write (CC=1, buffered first): answered in order, connection kept', async (t, stack) => {
  const s = await scene(t, stack)
  const holder = hold(t, s.url)
  await until(() => s.holds.length === 1, 2000, 'slot held by another client')
  const c = await rawConnect(s.port)
  const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`
  c.socket.write(get('/delay?1') + get('/ok?2') + get('/delay?3'))
  await until(() => s.revision.throttler.queued === 1, 2000, 'first pipelined request buffered')
  releaseAll(s.holds)
  await holder
  await until(() => parseResponses(c.text()).length === 3, 3000, 'three responses')
  t.same(parseResponses(c.text()).map((r) => `${r.status} ${r.body}`), ['200 /delay?1', '200 /ok?2', '200 /delay?3'])
  c.socket.write(get('/ok'))
  await until(() => parseResponses(c.text()).length === 4, 2000, 'a fourth on the same connection')
  t.notOk(c.isClosed, 'still open')
  c.socket.destroy()
  t.equal(s.pod.maxInFlight, 1)
  await settled(s, [s.pod], 'pipelined')
})

test('pipelined 1 MB POST + GET, the pod answering the POST without reading it', async (t, stack) => {
  const s = await scene(t, stack)
  for (const framing of FRAMINGS) {
    const body = framing.name === 'chunked' ? `100000\r\n${'b'.repeat(MB)}\r\n0\r\n\r\n` : 'b'.repeat(MB)
    const c = await rawConnect(s.port)
    const before = s.pod.requests
    c.socket.write(`POST /noread HTTP/1.1\r\nHost: x\r\n${ROUTE}${framing.head}\r\n${body}GET /ok?after HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
    await until(() => parseResponses(c.text()).length === 2 || c.isClosed, 5000, `${framing.name}: two responses`)
    t.same(parseResponses(c.text()).map((r) => `${r.status} ${r.body}`), ['200 early', '200 /ok?after'], `${framing.name}: both answered in order`)
    t.equal(s.pod.requests - before, 2, `${framing.name}: the body bytes were not taken for a request`)
    c.socket.destroy()
    await settled(s, [s.pod], framing.name)
  }
})

test('a 404 (unknown revision) for a 1 MB POST pipelined before a GET: the body is dropped, the GET routed', async (t, stack) => {
  const s = await scene(t, stack)
  const c = await rawConnect(s.port)
  c.socket.write(`POST /read HTTP/1.1\r\nHost: nowhere.example\r\nContent-Length: ${MB}\r\n\r\n${'d'.repeat(MB)}GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  await until(() => parseResponses(c.text()).length === 2 || c.isClosed, 5000, 'two answers')
  t.same(parseResponses(c.text()).map((r) => r.status), [404, 200])
  t.equal(s.pod.requests, 1)
  c.socket.destroy()
  await settled(s, [s.pod], '404')
})

// --- 4. a misbehaving pod, while the client uploads 2 MB ------------------------------------------

for (const fault of UPSTREAM_FAULTS) {
  test(`the pod ${fault.name}`, async (t, stack) => {
    const { activator, ports, url } = await startActivator(t, stack.argv)
    const pod = await startRawApp(t)
    const revision = await readyRevision(activator, [`127.0.0.1:${pod.port}`], 1)
    const c = await rawConnect(ports.serving)
    c.socket.write(`POST ${fault.path} HTTP/1.1\r\nHost: x\r\n${ROUTE}Content-Length: ${UPLOAD}\r\n\r\n`)
    c.socket.write(Buffer.alloc(UPLOAD, 99))
    await until(() => c.isClosed || parseResponses(c.text()).some((r) => r.status >= 200 && (r.isComplete || c.isClosed)), 5000, 'an answer or a close')
    if (fault.path !== '/cut-mid-body') await sleep(30) // anything smuggled would be here by now
    fault.check(t, c)
    if (!c.isClosed) {
      const before = parseResponses(c.text()).length
      c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
      await until(() => parseResponses(c.text()).length === before + 1 || c.isClosed, 5000, 'next answer on the same connection')
      t.equal(parseResponses(c.text())[before]?.body, 'ok', 'the same connection serves the next request')
    }
    c.socket.destroy()
    await settled({ activator, revision }, [], fault.path)
    t.equal(revision.readyCount, 1, 'a misbehaving response does not take the endpoint out of rotation')
    const r = await send(createClient(t), url, { path: '/ok', headers: route('mis') })
    t.equal(r.status, 200, 'a normal request afterwards gets 200')
    await until(() => pod.open.size === 0, 2000, 'no socket left open at the pod')
    t.equal(pod.heads.filter((h) => !h.startsWith('GET /ok')).length, 1, 'the pod saw exactly one faulty request (no replay)')
  })
}

// --- 5. slow readers -----------------------------------------------------------------------------

test('a paused client on a 5 MB response, destroyed: slot freed; resumed: every byte intact', async (t, stack) => {
  const s = await scene(t, stack)
  const gone = await rawConnect(s.port)
  gone.socket.pause()
  gone.socket.write(`GET /huge HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  await until(() => s.pod.requests === 1, 2000, 'at the pod')
  await sleep(100)
  gone.socket.destroy()
  await settled(s, [s.pod], 'paused then destroyed')

  const slow = await rawConnect(s.port)
  slow.socket.pause()
  slow.socket.write(`GET /huge HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  await until(() => s.pod.requests === 2, 2000, 'at the pod')
  await sleep(100)
  slow.socket.resume()
  await until(() => parseResponses(slow.text())[0]?.isComplete === true, 5000, 'whole response')
  const body = parseResponses(slow.text())[0]?.body ?? ''
  t.equal(body.length, 5 * MB)
  t.ok(/^x+$/.test(body), 'every byte intact')
  slow.socket.destroy()
  await settled(s, [s.pod], 'resumed')
  await serves(t, s.url)
})

test('an endless stream to a paused client: backpressure reaches the pod; destroying frees everything', async (t, stack) => {
  let written = 0
  let stopped = false
  const { activator, ports, url } = await startActivator(t, stack.argv)
  const pod = await startFakePod(t, (req, res) => {
    if (req.url !== '/endless') { res.end('ok'); return }
    const chunk = Buffer.alloc(64 * 1024, 121)
    const pump = (): void => {
      while (!stopped && !res.destroyed && written < 256 * MB) {
        written += chunk.length
        if (!res.write(chunk)) { res.once('drain', pump); return }
      }
    }
    res.on('close', () => { stopped = true })
    pump()
  })
  const revision = await readyRevision(activator, [pod.dest], 1)
  const c = await rawConnect(ports.serving)
  c.socket.pause()
  c.socket.write(`GET /endless HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
  const blocked = await stableFor(() => written, 200, 5000, 'bytes the pod wrote')
  t.ok(blocked < 64 * MB, `buffered along the way: ${(blocked / MB).toFixed(1)} MB`)
  t.equal(revision.throttler.inFlight, 1, 'the slot is held while streaming')
  c.socket.destroy()
  await settled({ activator, revision }, [pod], 'endless')
  t.ok(stopped, 'the pod saw its response closed')
  t.equal((await send(createClient(t), url, { path: '/ok', headers: route('mis') })).status, 200)
})

// --- 6. Expect: 100-continue ---------------------------------------------------------------------

test('Expect: 100-continue through the activator to a node:http pod: one 100, body intact', async (t, stack) => {
  const s = await scene(t, stack)
  const body = Buffer.alloc(MB)
  for (let i = 0; i < body.length; i++) body[i] = (i * 17) & 0xff
  const digest = createHash('sha256').update(body).digest('hex')
  const c = await rawConnect(s.port)
  c.socket.write(`POST /sha HTTP/1.1\r\nHost: x\r\n${ROUTE}Expect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`)
  await until(() => c.text().includes('HTTP/1.1 100 Continue\r\n\r\n'), 2000, '100 Continue')
  c.socket.write(body)
  await until(() => parseResponses(c.text()).some((r) => r.status === 200 && r.isComplete), 5000, 'final response')
  const rs = parseResponses(c.text())
  t.same(rs.map((r) => r.status), [100, 200], 'exactly one 100')
  t.equal(rs[1]?.body, `${MB} ${digest}`)
  c.socket.destroy()
  await settled(s, [s.pod], '100-continue')
})

// --- 7. garbage and oversized heads ---------------------------------------------------------------

test('garbage after a valid request on a kept connection: 200, then 400 and close', async (t, stack) => {
  const s = await scene(t, stack)
  for (const first of ['/ok', '/delay']) {
    const c = await rawConnect(s.port)
    c.socket.write(`GET ${first} HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n\x16\x03\x01 garbage \x00\xff\r\n\r\n`)
    await c.closed
    t.same(parseResponses(c.text()).map((r) => r.status), [200, 400], `${first}: answered, then refused`)
  }
  t.equal(s.pod.requests, 2, 'the garbage never reached the pod')
  await serves(t, s.url)
  await settled(s, [s.pod], 'garbage')
})

test('a 70 KB request line: 431, closed, never routed', async (t, stack) => {
  const s = await scene(t, stack)
  const line = `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`
  for (const pieceBytes of [line.length, 1024]) {
    const c = await rawConnect(s.port)
    for (let i = 0; i < line.length && !c.isClosed; i += pieceBytes) {
      c.socket.write(line.slice(i, i + pieceBytes))
      await new Promise((resolve) => { setImmediate(resolve) })
    }
    await c.closed
    t.match(c.text(), /^HTTP\/1\.1 (431|414) /, `written ${pieceBytes} bytes at a time`)
  }
  t.equal(s.pod.requests, 0)
  await serves(t, s.url)
})

test('10,000 tiny header fields under the size limit are answered in under a second', async (t, stack) => {
  const s = await scene(t, stack)
  Object.assign(s.pod.server, { maxHeaderSize: 256 * 1024, maxHeadersCount: 0 })
  const names = tinyFieldNames()
  const cases = [
    { name: 'distinct names', fields: names.map((n) => `${n}:\r\n`).join(''), count: names.length },
    { name: 'one name repeated', fields: 'x: y\r\n'.repeat(10_000), count: 10_000 },
    { name: 'Connection listing 16,000 names over 8,000 fields', fields: `Connection: ${'q,'.repeat(16_000)}\r\n${'x:\r\n'.repeat(8_000)}`, count: 8_000 },
  ]
  for (const k of cases) {
    const head = `GET /headers HTTP/1.1\r\nHost: x\r\n${ROUTE}${k.fields}\r\n`
    t.ok(head.length < 64 * 1024, `${k.name}: ${head.length} bytes, under the 64 KiB limit`)
    const c = await rawConnect(s.port)
    const start = performance.now()
    c.socket.write(head)
    await until(() => parseResponses(c.text())[0]?.isComplete === true || c.isClosed, 3000, `${k.name}: answer`)
    const ms = performance.now() - start
    const [r] = parseResponses(c.text())
    t.equal(r?.status, 200, k.name)
    const fields = Number((r?.body ?? '0 0').split(' ')[1])
    t.ok(fields >= k.count, `${k.name}: the pod received every field (${fields})`)
    t.ok(ms < 1000, `${k.name}: answered in ${ms.toFixed(0)} ms`)
    c.socket.destroy()
  }
  await settled(s, [s.pod], 'headers')
})

// --- 8. websockets -----------------------------------------------------------------------------------

test('websocket upgrade after a normal request on the same keep-alive connection', async (t, stack) => {
  const s = await scene(t, stack)
  const wss = new WebSocketServer({ server: s.pod.server })
  wss.on('connection', (ws) => { ws.on('message', (data) => { ws.send(`echo ${String(data)}`) }) })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })

  const modes = ['after the response', 'pipelined in the same write', 'after a POST whose body the app never read', 'with the first frame in the handshake write']
  for (const mode of modes) {
    const c = await rawConnect(s.port)
    if (mode === 'after the response') {
      c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
      await until(() => parseResponses(c.text()).length === 1, 2000, 'first response')
      c.socket.write(upgradeRequest(ROUTE))
    } else if (mode === 'pipelined in the same write') {
      c.socket.write(`GET /delay HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n` + upgradeRequest(ROUTE))
    } else if (mode === 'after a POST whose body the app never read') {
      c.socket.write(`POST /noread HTTP/1.1\r\nHost: x\r\n${ROUTE}Content-Length: ${MB}\r\n\r\n${'u'.repeat(MB)}` + upgradeRequest(ROUTE))
    } else {
      c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\n`)
      await until(() => parseResponses(c.text()).length === 1, 2000, 'first response')
      c.socket.write(Buffer.concat([Buffer.from(upgradeRequest(ROUTE)), wsFrame(1, Buffer.from('hi'))]))
    }
    await until(() => c.text().includes('HTTP/1.1 101 '), 2000, `${mode}: 101`)
    t.equal(parseResponses(c.text())[0]?.status, 200, `${mode}: the plain request was answered first`)
    if (mode !== 'with the first frame in the handshake write') c.socket.write(wsFrame(1, Buffer.from('hi')))
    await until(() => c.text().includes('echo hi'), 2000, `${mode}: echo`)
    t.equal(s.revision.throttler.inFlight, 1, `${mode}: the open websocket holds the slot`)
    const waiting = send(createClient(t), s.url, { path: '/ok', headers: route('mis') })
    await until(() => s.revision.throttler.queued === 1, 2000, `${mode}: plain request buffered behind it`)
    c.socket.write(wsFrame(8, Buffer.from([0x03, 0xe8])))
    await c.closed
    t.equal((await waiting).status, 200, `${mode}: served once the websocket closed`)
    await settled(s, [s.pod], mode)
  }
})

test('websocket clients that leave early: while buffered, and before the pod completes the handshake', async (t, stack) => {
  const s = await scene(t, stack)
  let handshakes = 0
  let answer: (() => void) | null = null
  const wss = new WebSocketServer({
    server: s.pod.server,
    verifyClient: (_info, done) => { handshakes++; answer = () => { done(true) } },
  })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })

  const holder = hold(t, s.url)
  await until(() => s.holds.length === 1, 2000, 'slot held')
  const queued = await rawConnect(s.port)
  queued.socket.write(upgradeRequest(ROUTE))
  await until(() => s.revision.throttler.queued === 1, 2000, 'upgrade buffered')
  queued.socket.destroy()
  await until(() => s.revision.throttler.queued === 0, 2000, 'left the queue')
  releaseAll(s.holds)
  t.equal(await holder, 200)
  await settled(s, [s.pod], 'buffered upgrade gone')
  t.equal(handshakes, 0, 'the abandoned upgrade never reached the pod')

  const early = await rawConnect(s.port)
  early.socket.write(upgradeRequest(ROUTE))
  await until(() => handshakes === 1, 2000, 'handshake at the pod')
  early.socket.destroy()
  await until(() => s.revision.throttler.inFlight === 0 && s.activator.tunnels.size === 0, 2000, 'tunnel ended')
  const finish = answer as (() => void) | null
  if (finish !== null) finish()
  await settled(s, [s.pod], 'handshake abandoned')
  await serves(t, s.url)
})

test('the pod closes an open websocket: a client that ignores the FIN does not keep the slot', async (t, stack) => {
  const s = await scene(t, stack)
  const wss = new WebSocketServer({ server: s.pod.server })
  const open: WebSocket[] = []
  wss.on('connection', (ws) => { open.push(ws); ws.on('message', (data) => { ws.send(`echo ${String(data)}`) }) })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })
  const c = await rawConnect(s.port, { allowHalfOpen: true })
  t.teardown(() => { c.socket.destroy() })
  c.socket.write(upgradeRequest(ROUTE))
  await until(() => c.text().includes('HTTP/1.1 101 '), 2000, '101')
  c.socket.write(wsFrame(1, Buffer.from('hi')))
  await until(() => c.text().includes('echo hi'), 2000, 'echo')
  t.equal(s.revision.throttler.inFlight, 1)
  for (const ws of open) ws.terminate()
  await until(() => c.socket.readableEnded, 2000, 'the client connection ended')
  await settled(s, [s.pod], 'pod closed the websocket')
  await serves(t, s.url)
})

test('CONNECT after a plain request on the same connection: refused without a tunnel, nothing held', async (t, stack) => {
  const s = await scene(t, stack)
  const c = await rawConnect(s.port)
  c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n${ROUTE}\r\nCONNECT ${s.pod.dest} HTTP/1.1\r\nHost: ${s.pod.dest}\r\n${ROUTE}\r\nhello`)
  await c.closed
  const rs = parseResponses(c.text())
  t.equal(rs[0]?.status, 200, 'the plain request was answered')
  t.notOk(rs.some((r) => r.status === 200 && r !== rs[0]), 'no tunnel was opened')
  await settled(s, [s.pod], 'CONNECT')
  t.equal(s.pod.requests, 1)
  await serves(t, s.url)
})

// --- 9. silent connections ---------------------------------------------------------------------------

test('a client that connects and never sends a byte does not hold up a graceful shutdown', async (t, stack) => {
  const { activator, ports } = await startActivator(t, [...stack.argv, '--drain-seconds', '0.1'])
  const silent = await rawConnect(ports.serving)
  const kept = await rawConnect(ports.serving)
  t.teardown(() => { silent.socket.destroy(); kept.socket.destroy() })
  kept.socket.write('GET / HTTP/1.1\r\nHost: x\r\nK-Network-Probe: activator\r\n\r\n')
  await until(() => parseResponses(kept.text()).length === 1, 2000, 'an idle keep-alive connection too')
  const start = performance.now()
  // A silent connection would hold the shutdown until its 60 s head timeout; 3 s tells that apart
  // (cleared at once, so no timer outlives the test and holds the file's process open).
  let bound: NodeJS.Timeout | undefined
  const stopped = await Promise.race([activator.shutdown().then(() => true), new Promise<boolean>((resolve) => { bound = setTimeout(() => { resolve(false) }, 3000) })])
  clearTimeout(bound)
  t.ok(stopped, `shutdown finished (${(performance.now() - start).toFixed(0)} ms)`)
  await until(() => silent.isClosed && kept.isClosed, 2000, 'both connections closed')
})

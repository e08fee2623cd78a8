import { createHash } from 'node:crypto'
import { request } from 'node:http'
import t from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'
import { ManualClock } from '../../src/shared/clock.ts'
import { MB, pathApp, releaseAll, stableFor, startRawApp, tinyFieldNames, UPLOAD, UPSTREAM_FAULTS, upgradeRequest, wsFrame } from '../helpers/misbehaving-apps.ts'
import { parseResponses, rawConnect, type RawClient } from '../helpers/raw-client.ts'
import { send, sleep, startApp, startSidecar, until, type App, type StartedSidecar } from '../helpers/sidecar-fixture.ts'
import { STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', STACKS)

// Adversarial clients and apps against a real sidecar over real sockets, on each stack (H1Server
// or node:http in front, H1Upstream or undici behind). Whatever a client or the app does, afterwards: the sidecar still
// answers, no admission slot is held or queued, the app has no request left open and saw none
// the client had abandoned before admission, and nothing was thrown uncaught (tap fails on it).

type Sidecar = StartedSidecar['sidecar']
/** The assertions and teardown of a (sub)test. */
type Tap = Pick<typeof t, 'teardown' | 'equal' | 'ok' | 'match' | 'same' | 'not' | 'notOk' | 'notMatch'>

interface Scene {
  app: App
  sc: StartedSidecar
  port: number
  /** What the app saw: `end <path> <bytes>`, `cut <path>`. */
  log: string[]
  /** Responses the app holds (`/hold`), released by calling them. */
  holds: Array<() => void>
}

async function scene (t: Tap, stack: Stack, cc: string): Promise<Scene> {
  const log: string[] = []
  const holds: Array<() => void> = []
  const app = await startApp(t, pathApp(log, holds))
  const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: cc }, stack.argv)
  return { app, sc, port: sc.ports.serving, log, holds }
}

/** No slot held or queued, nothing active, the app has nothing open. */
async function settled (sidecar: Sidecar, app: { inFlight: number }, what: string): Promise<void> {
  await until(() => (sidecar.breaker === null || (sidecar.breaker.inFlight === 0 && sidecar.breaker.queued === 0)) &&
    sidecar.handler.active === 0 && sidecar.upgrades.open.size === 0 && app.inFlight === 0, 3000, `${what}: settled`)
}

async function serves (t: Tap, url: string): Promise<void> {
  const r = await send(`${url}/ok`)
  t.equal(r.status, 200, 'a normal request afterwards gets 200')
  t.equal(r.body, 'ok')
}

// --- 1. clients that drop mid-upload ---------------------------------------------------------

const FRAMINGS = [
  { name: 'chunked', head: 'Transfer-Encoding: chunked\r\n', partial: '100000\r\n' + 'a'.repeat(20_000) },
  { name: 'content-length', head: `Content-Length: ${MB}\r\n`, partial: 'a'.repeat(20_000) },
]

const PHASES = [
  { name: 'while the app reads the body', path: '/read', queued: false, responding: false },
  { name: 'while the app neither reads nor answers', path: '/idle', queued: false, responding: false },
  { name: 'while queued (CC=1, the slot held)', path: '/read', queued: true, responding: false },
  { name: 'while the app streams its response and reads the body', path: '/stream-read', queued: false, responding: true },
  { name: 'while the app streams its response and does not read the body', path: '/stream-noread', queued: false, responding: true },
]

for (const framing of FRAMINGS) {
  for (const phase of PHASES) {
    test(`${framing.name} POST, client gone mid-body ${phase.name}`, async (t, stack) => {
      const s = await scene(t, stack, '1')
      const holder = phase.queued ? send(`${s.sc.url}/hold`) : null
      if (holder !== null) await until(() => s.holds.length === 1, 2000, 'holder in the app')
      const c = await rawConnect(s.port)
      c.socket.write(`POST ${phase.path} HTTP/1.1\r\nHost: x\r\n${framing.head}\r\n${framing.partial}`)
      if (phase.queued) await until(() => s.sc.sidecar.breaker?.queued === 1, 2000, 'queued')
      else await until(() => s.app.requests === 1, 2000, 'request at the app')
      if (phase.responding) await until(() => c.text().includes('started'), 2000, 'response streaming')
      c.socket.destroy()
      if (phase.queued) {
        await until(() => s.sc.sidecar.breaker?.queued === 0, 2000, 'left the queue')
        releaseAll(s.holds)
        t.equal((await holder)?.status, 200, 'the holder is answered')
      }
      await settled(s.sc.sidecar, s.app, 'after the drop')
      t.notOk(s.log.some((e) => e.startsWith(`end ${phase.path}`)), 'the app never saw the body end')
      if (phase.queued) t.equal(s.app.requests, 1, 'the abandoned queued request never reached the app')
      else t.ok(s.log.includes(`cut ${phase.path}`), 'the app saw its request cut')
      await serves(t, s.sc.url)
      await settled(s.sc.sidecar, s.app, 'at the end')
    })
  }
}

test('a client trickling its upload past the revision timeout: 504, slot freed, the app sees its request cut', async (t, stack) => {
  const log: string[] = []
  const app = await startApp(t, pathApp(log, []))
  // On fake time: the trickle reaches the app, then the clock passes the revision timeout while
  // the client keeps sending.
  const clock = new ManualClock()
  const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const c = await rawConnect(sc.ports.serving)
  t.teardown(() => { c.socket.destroy() })
  c.socket.write(`POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: ${MB}\r\n\r\n`)
  c.socket.write('t'.repeat(10))
  await until(() => app.requests === 1, 2000, 'the upload reached the app')
  clock.advance(1_000)
  while (parseResponses(c.text()).length === 0 && !c.isClosed) {
    c.socket.write('t'.repeat(10))
    await sleep(10)
  }
  t.equal(parseResponses(c.text())[0]?.status, 504)
  await settled(sc.sidecar, app, 'after the timeout')
  t.same(log, ['cut /read'])
  c.socket.write('t'.repeat(10)) // still trickling: read and dropped
  await sleep(50)
  await serves(t, sc.url)
})

// --- 2. half-closing clients -------------------------------------------------------------------

test('headers then half-close before the body: request abandoned, slot returned', async (t, stack) => {
  const s = await scene(t, stack, '1')
  for (const framing of FRAMINGS) {
    const c = await rawConnect(s.port)
    c.socket.end(`POST /read HTTP/1.1\r\nHost: x\r\n${framing.head}\r\n`)
    await c.closed
    await settled(s.sc.sidecar, s.app, framing.name)
    t.notOk(s.log.some((e) => e.startsWith('end /read')), `${framing.name}: the app never saw a complete body`)
    t.notOk(/^HTTP\/1\.1 200/.test(c.text()), `${framing.name}: no 200 for a request without its body`)
  }
  await serves(t, s.sc.url)
})

test('half-close after a whole GET (node semantics: the request is abandoned)', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.end('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
  await c.closed
  await settled(s.sc.sidecar, s.app, 'abandoned GET')
  t.ok(s.app.requests <= 1)
  releaseAll(s.holds) // answering a request whose client left is harmless
  await serves(t, s.sc.url)
  await settled(s.sc.sidecar, s.app, 'at the end')
})

test('a malformed chunk mid-upload: an error answer, the connection closed, the app sees its request cut', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.write('POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
  await until(() => s.app.requests === 1, 2000, 'upload at the app')
  c.socket.write('zz\r\nmore\r\n')
  await c.closed
  const [r] = parseResponses(c.text())
  // The client's fault, so a 400 naming it (Go's ReverseProxy blames the app with a 502 here).
  t.equal(r?.status, 400, `answered ${String(r?.status)}`)
  t.match(r?.body ?? '', /malformed request body: /)
  t.equal(r?.headers.connection, 'close')
  await settled(s.sc.sidecar, s.app, 'malformed chunk')
  t.same(s.log, ['cut /read'], 'the app saw its request cut, never a body end')
  await serves(t, s.sc.url)
})

test('a 503 (queue full) for a POST with a 1 MB body pipelined before a GET: the body is dropped, the GET served', async (t, stack) => {
  const log: string[] = []
  const holds: Array<() => void> = []
  const app = await startApp(t, pathApp(log, holds))
  const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, [...stack.argv, '--queue-depth', '0'])
  const holder = send(`${sc.url}/hold`)
  await until(() => holds.length === 1, 2000, 'slot held')
  const c = await rawConnect(sc.ports.serving)
  c.socket.write(`POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: ${MB}\r\n\r\n${'c'.repeat(MB)}GET /hold HTTP/1.1\r\nHost: x\r\n\r\n`)
  await until(() => parseResponses(c.text()).length === 2, 3000, 'two answers')
  t.same(parseResponses(c.text()).map((r) => r.status), [503, 503], 'the POST and the GET behind it rejected (the slot is still held)')
  releaseAll(holds)
  await holder
  c.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => parseResponses(c.text()).length === 3, 3000, 'a third request on the same connection')
  t.equal(parseResponses(c.text())[2]?.body, 'ok')
  t.equal(app.requests, 2, 'only the holder and the last GET reached the app')
  c.socket.destroy()
  await settled(sc.sidecar, app, 'queue full')
})

// --- 3. pipelining -----------------------------------------------------------------------------

test('three pipelined GETs in one write (CC=1): answered in order, connection kept', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const holder = send(`${s.sc.url}/hold`)
  await until(() => s.holds.length === 1, 2000, 'slot held by another client')
  const c = await rawConnect(s.port)
  c.socket.write('GET /delay?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /ok?2 HTTP/1.1\r\nHost: x\r\n\r\nGET /delay?3 HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => s.sc.sidecar.breaker?.queued === 1, 2000, 'first pipelined request queued')
  releaseAll(s.holds)
  await holder
  await until(() => parseResponses(c.text()).length === 3, 3000, 'three responses')
  t.same(parseResponses(c.text()).map((r) => `${r.status} ${r.body}`), ['200 /delay?1', '200 /ok?2', '200 /delay?3'])
  c.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => parseResponses(c.text()).length === 4, 2000, 'a fourth on the same connection')
  t.notOk(c.isClosed, 'still open')
  c.socket.destroy()
  t.equal(s.app.maxInFlight, 1)
  await settled(s.sc.sidecar, s.app, 'pipelined')
})

test('pipelined 1 MB POST + GET, the app answering the POST without reading it', async (t, stack) => {
  const s = await scene(t, stack, '1')
  for (const framing of FRAMINGS) {
    const body = framing.name === 'chunked' ? `100000\r\n${'b'.repeat(MB)}\r\n0\r\n\r\n` : 'b'.repeat(MB)
    const c = await rawConnect(s.port)
    const requestsBefore = s.app.requests
    c.socket.write(`POST /noread HTTP/1.1\r\nHost: x\r\n${framing.head}\r\n${body}GET /ok?after HTTP/1.1\r\nHost: x\r\n\r\n`)
    await until(() => parseResponses(c.text()).length === 2 || c.isClosed, 5000, `${framing.name}: two responses`)
    t.same(parseResponses(c.text()).map((r) => `${r.status} ${r.body}`), ['200 early', '200 /ok?after'], `${framing.name}: both answered in order`)
    t.equal(s.app.requests - requestsBefore, 2, `${framing.name}: the body bytes were not taken for a request`)
    c.socket.destroy()
    await settled(s.sc.sidecar, s.app, framing.name)
  }
  await serves(t, s.sc.url)
})

// --- 4. a misbehaving app, while the client uploads 2 MB ------------------------------------------

for (const fault of UPSTREAM_FAULTS) {
  test(`the app ${fault.name}`, async (t, stack) => {
    const app = await startRawApp(t)
    const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
    const c = await rawConnect(sc.ports.serving)
    c.socket.write(`POST ${fault.path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${UPLOAD}\r\n\r\n`)
    c.socket.write(Buffer.alloc(UPLOAD, 99))
    await until(() => c.isClosed || parseResponses(c.text()).some((r) => r.status >= 200 && (r.isComplete || c.isClosed)), 5000, 'an answer or a close')
    if (fault.path !== '/cut-mid-body') await sleep(30) // anything smuggled would be here by now
    fault.check(t, c)
    if (!c.isClosed) {
      // The connection is still usable: the rest of the upload was read and dropped.
      const before = parseResponses(c.text()).length
      c.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
      await until(() => parseResponses(c.text()).length === before + 1 || c.isClosed, 5000, 'next answer on the same connection')
      t.equal(parseResponses(c.text())[before]?.body, 'ok', 'the same connection serves the next request')
    }
    c.socket.destroy()
    await settled(sc.sidecar, { inFlight: 0 }, fault.path)
    const r = await send(`${sc.url}/ok`)
    t.equal(r.status, 200, 'a normal request afterwards gets 200')
    await until(() => app.open.size === 0, 2000, 'no upstream socket left open at the app')
    t.equal(app.heads.filter((h) => !h.startsWith('GET /ok')).length, 1, 'the app saw exactly one faulty request (no replay)')
  })
}

// --- 5. slow readers -----------------------------------------------------------------------------

test('a paused client on a 5 MB response, then destroyed: slot freed, upstream not wedged', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.pause()
  c.socket.write('GET /huge HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => s.app.requests === 1, 2000, 'at the app')
  await sleep(100)
  c.socket.destroy()
  await settled(s.sc.sidecar, s.app, 'paused then destroyed')
  await serves(t, s.sc.url)
})

test('a paused client resumed later gets all 5 MB intact', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.pause()
  c.socket.write('GET /huge HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => s.app.requests === 1, 2000, 'at the app')
  await sleep(100)
  c.socket.resume()
  await until(() => parseResponses(c.text())[0]?.isComplete === true, 5000, 'whole response')
  const [r] = parseResponses(c.text())
  t.equal(r?.body.length, 5 * MB)
  t.ok(/^x+$/.test(r?.body ?? ''), 'every byte intact')
  c.socket.destroy()
  await settled(s.sc.sidecar, s.app, 'resumed')
})

test('an endless stream to a paused client: backpressure reaches the app; destroying frees everything', async (t, stack) => {
  let written = 0
  let stopped = false
  const app = await startApp(t, (req, res) => {
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
  const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const c = await rawConnect(sc.ports.serving)
  c.socket.pause()
  c.socket.write('GET /endless HTTP/1.1\r\nHost: x\r\n\r\n')
  // Backpressure: once every buffer on the way is full the app can write no more.
  const blocked = await stableFor(() => written, 200, 5000, 'bytes the app wrote')
  await sleep(100)
  t.equal(written, blocked, 'the app stays blocked')
  t.ok(written < 64 * MB, `buffered along the way: ${(written / MB).toFixed(1)} MB`)
  t.equal(sc.sidecar.breaker?.inFlight, 1, 'the slot is held while streaming')
  c.socket.destroy()
  await settled(sc.sidecar, app, 'endless')
  t.ok(stopped, 'the app saw its response closed')
  const r = await send(`${sc.url}/ok`)
  t.equal(r.status, 200)
})

// --- 6. Expect: 100-continue ---------------------------------------------------------------------

test('Expect: 100-continue through the sidecar to a node:http app: one 100, body intact', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const body = Buffer.alloc(MB)
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff
  const digest = createHash('sha256').update(body).digest('hex')

  const c = await rawConnect(s.port)
  c.socket.write(`POST /sha HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`)
  await until(() => c.text().includes('HTTP/1.1 100 Continue\r\n\r\n'), 2000, '100 Continue')
  c.socket.write(body)
  await until(() => parseResponses(c.text()).some((r) => r.status === 200 && r.isComplete), 5000, 'final response')
  const rs = parseResponses(c.text())
  t.same(rs.map((r) => r.status), [100, 200], 'exactly one 100 (the app\'s own is not relayed)')
  t.equal(rs[1]?.body, `${MB} ${digest}`)
  c.socket.destroy()

  // node:http's client, waiting for 'continue' before sending.
  const reply = await new Promise<string>((resolve, reject) => {
    const req = request(`${s.sc.url}/sha`, { method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': String(body.length) } }, (res) => {
      let d = ''
      res.on('data', (x: Buffer) => { d += x.toString() })
      res.on('end', () => { resolve(d) })
    })
    req.on('continue', () => { req.end(body) })
    req.on('error', reject)
  })
  t.equal(reply, `${MB} ${digest}`)
  await settled(s.sc.sidecar, s.app, '100-continue')
})

// --- 7. garbage and oversized heads ---------------------------------------------------------------

test('garbage after a valid request on a kept connection: 200, then 400 and close', async (t, stack) => {
  const s = await scene(t, stack, '1')
  for (const first of ['/ok', '/delay']) {
    const c = await rawConnect(s.port)
    c.socket.write(`GET ${first} HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01 garbage \x00\xff\r\n\r\n`)
    await c.closed
    const rs = parseResponses(c.text())
    t.same(rs.map((r) => r.status), [200, 400], `${first}: answered, then refused`)
  }
  t.equal(s.app.requests, 2, 'the garbage never reached the app')
  await serves(t, s.sc.url)
  await settled(s.sc.sidecar, s.app, 'garbage')
})

/** Writes `GET /aaaa...` in 64 KiB pieces until the connection closes (at most 8 MiB); returns bytes sent. */
async function sendEndlessLine (c: RawClient): Promise<number> {
  c.socket.write('GET /')
  const chunk = 'a'.repeat(64 * 1024)
  let sent = 0
  while (!c.isClosed && sent < 8 * MB) {
    c.socket.write(chunk)
    sent += chunk.length
    await new Promise((resolve) => { setImmediate(resolve) })
  }
  await c.closed
  return sent
}

test('a 70 KB request line: 431 (or 414), closed, never forwarded; an endless one too', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const line = `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`
  const whole = await rawConnect(s.port)
  whole.socket.write(line)
  await whole.closed
  t.match(whole.text(), /^HTTP\/1\.1 (431|414) /)

  const pieces = await rawConnect(s.port)
  for (let i = 0; i < line.length && !pieces.isClosed; i += 1024) {
    pieces.socket.write(line.slice(i, i + 1024))
    await new Promise((resolve) => { setImmediate(resolve) })
  }
  await pieces.closed
  t.match(pieces.text(), /^HTTP\/1\.1 (431|414) /, 'the same when it arrives in 1 KB pieces')

  // A request line that never ends: refused once over the limit, not buffered on.
  const endless = await rawConnect(s.port)
  const sent = await sendEndlessLine(endless)
  t.ok(sent < 8 * MB, `closed after ${(sent / 1024).toFixed(0)} KiB`)
  t.equal(s.app.requests, 0)
  await serves(t, s.sc.url)
})

test('a client still sending an endless request line gets its 431 before the close (lingering close)', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  await sendEndlessLine(c)
  t.match(c.text(), /^HTTP\/1\.1 431 /)
})

test('10,000 tiny header fields under the size limit are answered in under a second', async (t, stack) => {
  const s = await scene(t, stack, '1')
  // The app must take what the sidecar forwards (node reads maxHeaderSize per connection).
  Object.assign(s.app.server, { maxHeaderSize: 256 * 1024, maxHeadersCount: 0 })
  const names = tinyFieldNames()
  const cases = [
    { name: 'distinct names', fields: names.map((n) => `${n}:\r\n`).join(''), count: names.length },
    { name: 'one name repeated', fields: 'x: y\r\n'.repeat(10_000), count: 10_000 },
    // Each name listed in Connection is hop-by-hop: dropping them must not cost fields x tokens.
    { name: 'Connection listing 16,000 names over 8,000 fields', fields: `Connection: ${'q,'.repeat(16_000)}\r\n${'x:\r\n'.repeat(8_000)}`, count: 8_000 },
  ]
  for (const k of cases) {
    const head = `GET /headers HTTP/1.1\r\nHost: x\r\n${k.fields}\r\n`
    t.ok(head.length < 64 * 1024, `${k.name}: ${head.length} bytes, under the 64 KiB limit`)
    const c = await rawConnect(s.port)
    const start = performance.now()
    c.socket.write(head)
    await until(() => parseResponses(c.text())[0]?.isComplete === true || c.isClosed, 3000, `${k.name}: answer`)
    const ms = performance.now() - start
    const [r] = parseResponses(c.text())
    t.equal(r?.status, 200, k.name)
    const rawCount = Number((r?.body ?? '0 0').split(' ')[1])
    t.ok(rawCount >= k.count, `${k.name}: the app received every field (${rawCount})`)
    t.ok(ms < 1000, `${k.name}: answered in ${ms.toFixed(0)} ms`)
    c.socket.destroy()
  }
  await settled(s.sc.sidecar, s.app, 'headers')
})

// --- 8. websocket after a plain request on the same connection --------------------------------------

test('websocket upgrade after a normal request on the same keep-alive connection', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const wss = new WebSocketServer({ server: s.app.server })
  wss.on('connection', (ws) => { ws.on('message', (data) => { ws.send(`echo ${String(data)}`) }) })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })

  const modes = ['after the response', 'pipelined in the same write', 'after a POST whose body the app never read', 'with the first frame in the handshake write']
  for (const mode of modes) {
    const c = await rawConnect(s.port)
    if (mode === 'after the response') {
      c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n\r\n`)
      await until(() => parseResponses(c.text()).length === 1, 2000, 'first response')
      c.socket.write(upgradeRequest())
    } else if (mode === 'pipelined in the same write') {
      c.socket.write(`GET /delay HTTP/1.1\r\nHost: x\r\n\r\n` + upgradeRequest())
    } else if (mode === 'after a POST whose body the app never read') {
      c.socket.write(`POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: ${MB}\r\n\r\n${'u'.repeat(MB)}` + upgradeRequest())
    } else {
      c.socket.write(`GET /ok HTTP/1.1\r\nHost: x\r\n\r\n`)
      await until(() => parseResponses(c.text()).length === 1, 2000, 'first response')
      c.socket.write(Buffer.concat([Buffer.from(upgradeRequest()), wsFrame(1, Buffer.from('hi'))]))
    }
    await until(() => c.text().includes('HTTP/1.1 101 '), 2000, `${mode}: 101`)
    const first = parseResponses(c.text())[0]
    t.equal(first?.status, 200, `${mode}: the plain request was answered first`)
    if (mode !== 'with the first frame in the handshake write') c.socket.write(wsFrame(1, Buffer.from('hi')))
    await until(() => c.text().includes('echo hi'), 2000, `${mode}: echo`)
    t.equal(s.sc.sidecar.breaker?.inFlight, 1, `${mode}: the open websocket holds the slot`)
    // CC=1: a plain request waits for the websocket to close.
    const waiting = send(`${s.sc.url}/ok`)
    await until(() => s.sc.sidecar.breaker?.queued === 1, 2000, `${mode}: plain request queued behind it`)
    c.socket.write(wsFrame(8, Buffer.from([0x03, 0xe8])))
    await c.closed
    t.equal((await waiting).status, 200, `${mode}: served once the websocket closed`)
    await settled(s.sc.sidecar, s.app, mode)
  }
})

test('websocket clients that leave early: while queued, and before the app completes the handshake', async (t, stack) => {
  const s = await scene(t, stack, '1')
  let handshakes = 0
  let answer: (() => void) | null = null
  const wss = new WebSocketServer({
    server: s.app.server,
    verifyClient: (_info, done) => { handshakes++; answer = () => { done(true) } },
  })
  wss.on('connection', (ws) => { ws.on('message', (data) => { ws.send(String(data)) }) })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })

  // Queued behind a plain request holding the only slot.
  const holder = send(`${s.sc.url}/hold`)
  await until(() => s.holds.length === 1, 2000, 'slot held')
  const queued = await rawConnect(s.port)
  queued.socket.write(upgradeRequest())
  await until(() => s.sc.sidecar.breaker?.queued === 1, 2000, 'upgrade queued')
  queued.socket.destroy()
  await until(() => s.sc.sidecar.breaker?.queued === 0, 2000, 'left the queue')
  releaseAll(s.holds)
  await holder
  await settled(s.sc.sidecar, s.app, 'queued upgrade gone')
  t.equal(handshakes, 0, 'the abandoned upgrade never reached the app')

  // Gone while the app holds the handshake.
  const early = await rawConnect(s.port)
  early.socket.write(upgradeRequest())
  await until(() => handshakes === 1, 2000, 'handshake at the app')
  early.socket.destroy()
  await until(() => s.sc.sidecar.breaker?.inFlight === 0 && s.sc.sidecar.upgrades.open.size === 0, 2000, 'tunnel ended')
  const finish = answer as (() => void) | null
  if (finish !== null) finish() // the app completes a handshake nobody waits for
  await settled(s.sc.sidecar, s.app, 'handshake abandoned')
  await serves(t, s.sc.url)
})

test('an upgrade the app answers with a plain 200: the client gets it, the slot comes back', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.write(upgradeRequest().replace('GET /socket', 'GET /ok'))
  await until(() => parseResponses(c.text())[0]?.isComplete === true || c.isClosed, 2000, 'an answer')
  t.equal(parseResponses(c.text())[0]?.status, 200)
  t.equal(parseResponses(c.text())[0]?.body, 'ok')
  c.socket.destroy()
  await settled(s.sc.sidecar, s.app, 'refused upgrade')
  await serves(t, s.sc.url)
})

test('the app closes an open websocket: a client that ignores the FIN does not keep the slot', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const wss = new WebSocketServer({ server: s.app.server })
  const open: WebSocket[] = []
  wss.on('connection', (ws) => { open.push(ws); ws.on('message', (data) => { ws.send(`echo ${String(data)}`) }) })
  t.teardown(() => { for (const w of wss.clients) w.terminate(); wss.close() })
  const c = await rawConnect(s.port, { allowHalfOpen: true })
  t.teardown(() => { c.socket.destroy() })
  c.socket.write(upgradeRequest())
  await until(() => c.text().includes('HTTP/1.1 101 '), 2000, '101')
  c.socket.write(wsFrame(1, Buffer.from('hi')))
  await until(() => c.text().includes('echo hi'), 2000, 'echo')
  t.equal(s.sc.sidecar.breaker?.inFlight, 1)
  for (const ws of open) ws.terminate()
  // The client got the FIN and keeps its side open; Go's ReverseProxy (Knative) closes both
  // connections once either side is done, and so must we.
  await until(() => c.socket.readableEnded, 2000, 'the client connection ended')
  await settled(s.sc.sidecar, s.app, 'app closed the websocket')
  await serves(t, s.sc.url)
})

test('CONNECT after a plain request on the same connection: refused without a tunnel, nothing held', async (t, stack) => {
  const s = await scene(t, stack, '1')
  const c = await rawConnect(s.port)
  c.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\nCONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\nhello')
  await c.closed
  const rs = parseResponses(c.text())
  t.equal(rs[0]?.status, 200, 'the plain request was answered')
  t.notOk(rs.some((r) => r.status === 200 && r !== rs[0]), 'no tunnel was opened')
  await settled(s.sc.sidecar, s.app, 'CONNECT')
  t.equal(s.app.requests, 1)
  await serves(t, s.sc.url)
})

// --- 9. silent connections ---------------------------------------------------------------------------

test('a client that connects and never sends a byte does not hold up a graceful shutdown', async (t, stack) => {
  const log: string[] = []
  const app = await startApp(t, pathApp(log, []))
  const sc = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, [...stack.argv, '--drain-seconds', '0.1'])
  const silent = await rawConnect(sc.ports.serving)
  const kept = await rawConnect(sc.ports.serving)
  t.teardown(() => { silent.socket.destroy(); kept.socket.destroy() })
  kept.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => parseResponses(kept.text()).length === 1, 2000, 'an idle keep-alive connection too')
  const start = performance.now()
  // A silent connection would hold the shutdown until its 60 s head timeout; 3 s tells that apart
  // (cleared at once, so no timer outlives the test and holds the file's process open).
  let bound: NodeJS.Timeout | undefined
  const stopped = await Promise.race([sc.sidecar.shutdown().then(() => true), new Promise<boolean>((resolve) => { bound = setTimeout(() => { resolve(false) }, 3000) })])
  clearTimeout(bound)
  t.ok(stopped, `shutdown finished (${(performance.now() - start).toFixed(0)} ms)`)
  await until(() => silent.isClosed && kept.isClosed, 2000, 'both connections closed')
})

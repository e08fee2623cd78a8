import { request } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { request as undiciRequest } from 'undici'
import { ManualClock } from '../../src/shared/clock.ts'
import { send, sleep, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

test('forwards method, path, query and body, and returns status, headers and body', async (t, stack) => {
  const app = await startApp(t, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(201, { 'x-app': 'yes', 'set-cookie': ['a=1', 'b=2'] })
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }))
    })
  })
  const { url } = await startSidecar(t, app.port, {}, stack.argv)
  const r = await send(`${url}/some/path?q=1&r=2`, { method: 'POST', body: 'hello body', headers: { 'content-type': 'text/plain' } })
  t.equal(r.status, 201)
  t.equal(r.headers['x-app'], 'yes')
  t.same(r.headers['set-cookie'], ['a=1', 'b=2'])
  t.same(JSON.parse(r.body), { method: 'POST', url: '/some/path?q=1&r=2', body: 'hello body' })
  // On a kept connection node:http announces its keep-alive timeout; Sluice's server does not (nor Go's).
  const kept = await undiciRequest(`${url}/kept`)
  await kept.body.text()
  t.equal(kept.headers['keep-alive'] !== undefined, stack.httpServer === 'node', 'served by the chosen server')
})

test('rewrites headers as Knative does', async (t, stack) => {
  let seen: Record<string, string | string[] | undefined> = {}
  const app = await startApp(t, (req, res) => { seen = req.headers; res.end('ok') })
  const { url } = await startSidecar(t, app.port, {}, stack.argv)
  await send(url, {
    headers: {
      'x-forwarded-for': '203.0.113.7, 10.0.0.1',
      'x-forwarded-proto': 'https',
      'knative-serving-revision': 'hello-00001',
      'knative-serving-namespace': 'default',
      'k-original-host': 'hello.example.com',
      'k-proxy-request': 'activator',
      'x-private': 'drop me',
      connection: 'x-private',
      'proxy-authorization': 'secret',
    },
  })
  t.equal(seen.host, 'hello.example.com', 'K-Original-Host restored as Host')
  t.equal(seen['k-original-host'], undefined)
  t.equal(seen['knative-serving-revision'], undefined)
  t.equal(seen['knative-serving-namespace'], undefined)
  t.equal(seen['x-private'], undefined, 'headers named in Connection are hop-by-hop')
  t.equal(seen['proxy-authorization'], undefined)
  t.equal(seen['k-proxy-request'], 'activator', 'not stripped (Knative keeps it)')
  t.equal(seen['x-forwarded-for'], '203.0.113.7, 10.0.0.1, 127.0.0.1', 'client address appended')
  t.equal(seen.forwarded, 'for=203.0.113.7;proto=https, for=10.0.0.1', 'Forwarded synthesized from X-Forwarded-*')
})

test('keeps an existing Forwarded header and quotes IPv6 nodes when synthesizing', async (t, stack) => {
  const seen: Array<string | undefined> = []
  const app = await startApp(t, (req, res) => { seen.push(req.headers.forwarded); res.end() })
  const { url } = await startSidecar(t, app.port, {}, stack.argv)
  await send(url, { headers: { forwarded: 'for=1.1.1.1', 'x-forwarded-for': '2.2.2.2' } })
  await send(url, { headers: { 'x-forwarded-for': '2001:db8::1', 'x-forwarded-host': 'h.example' } })
  t.same(seen, ['for=1.1.1.1', 'for="[2001:db8::1]";host=h.example'])
})

test('streams responses: SSE chunks reach the client before the upstream finishes', async (t, stack) => {
  let finish: (() => void) | null = null
  const app = await startApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: first\n\n')
    finish = () => { res.end('data: last\n\n') }
  })
  const { url } = await startSidecar(t, app.port, {}, stack.argv)
  const got: string[] = []
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      t.equal(res.headers['content-type'], 'text/event-stream')
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        got.push(c)
        if (got.length === 1) {
          t.equal(c, 'data: first\n\n', 'first event arrives while the upstream is still open')
          if (finish !== null) finish()
        }
      })
      res.on('end', resolve)
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(got.join(''), 'data: first\n\ndata: last\n\n')
})

test('streams request bodies without buffering them whole', async (t, stack) => {
  let firstChunkAt = 0
  const app = await startApp(t, (req, res) => {
    let n = 0
    req.on('data', (c: Buffer) => { if (n === 0) firstChunkAt = performance.now(); n += c.length })
    req.on('end', () => { res.end(String(n)) })
  })
  const { url } = await startSidecar(t, app.port, {}, stack.argv)
  const result = await new Promise<{ body: string; endAt: number }>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ body, endAt: 0 }) })
    })
    req.on('error', reject)
    req.write(Buffer.alloc(64 * 1024, 1))
    // Wait until the upstream saw the first chunk before sending the rest: proves streaming.
    const poll = setInterval(() => {
      if (firstChunkAt > 0) {
        clearInterval(poll)
        for (let i = 0; i < 15; i++) req.write(Buffer.alloc(64 * 1024, 2))
        req.end()
      }
    }, 5)
  })
  t.equal(result.body, String(16 * 64 * 1024))
})

test('upstream connect failure answers 502 with a short body, at once', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.end() })
  const port = app.port
  await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) })
  // The injected clock stands still: the answer cannot have waited out any timeout.
  const { url, sidecar } = await startSidecar(t, port, {}, stack.argv, { clock: new ManualClock() })
  const r = await send(url)
  t.equal(r.status, 502)
  t.match(r.body, /upstream request failed: ECONNREFUSED/)
  t.equal(sidecar.handler.active, 0, 'no hang: nothing left in flight')
  t.equal(sidecar.metrics.upstream502, 1)
})

test('keep-alive race: an idempotent request on a socket the app just closed is retried once', async (t, stack) => {
  // The app answers each connection's first request with keep-alive, then drops the socket
  // when the next request arrives on it, without answering: what Knative issue 12414 sees.
  const app = await startApp(t, (req, res) => {
    const sock = req.socket as typeof req.socket & { served?: number }
    sock.served = (sock.served ?? 0) + 1
    if (sock.served > 1) { sock.destroy(); return }
    res.end('fresh')
  })
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  t.equal((await send(url)).body, 'fresh')
  await sleep(20)
  const r = await send(url)
  t.equal(r.status, 200, 'GET retried on a new connection')
  t.equal(r.body, 'fresh')
  await sleep(20)
  const post = await send(url, { method: 'POST', body: 'payload' })
  t.equal(post.status, 502, 'a request whose body was sent is not replayed')
})

test('an invalid request gets 400 and the sidecar keeps serving', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const { url, ports } = await startSidecar(t, app.port, {}, stack.argv)
  const raw = await new Promise<string>((resolve) => {
    const sock = connect(ports.serving, '127.0.0.1', () => { sock.write('GARBAGE\r\n\r\n') })
    let data = ''
    sock.on('data', (c: Buffer) => { data += c.toString() })
    sock.on('close', () => { resolve(data) })
  })
  t.match(raw, /^HTTP\/1\.1 400/)
  t.equal((await send(url)).body, 'ok')
})

test('a client that drops mid-upload: the app sees the body cut, the slot comes back, the next upload works', async (t, stack) => {
  const seen: string[] = []
  const app = await startApp(t, (req, res) => {
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length })
    req.on('end', () => { seen.push(`end ${n}`); res.end(String(n)) })
    req.on('aborted', () => { seen.push('aborted') })
    req.on('error', () => {})
  })
  const { ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const sock = connect(ports.serving, '127.0.0.1')
  await new Promise<void>((resolve) => { sock.once('connect', () => { resolve() }) })
  sock.on('error', () => {})
  sock.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'a'.repeat(30_000))
  await until(() => app.inFlight === 1, 2000, 'upload reached the app')
  sock.destroy()
  await until(() => sidecar.breaker?.inFlight === 0 && app.inFlight === 0, 2000, 'slot returned, app request closed')
  t.notOk(seen.includes('end 100000'), 'the app never saw a complete body')
  const r = await send(`http://127.0.0.1:${ports.serving}/up`, { method: 'POST', body: Buffer.alloc(50_000, 98) })
  t.equal(r.status, 200)
  t.equal(r.body, '50000')
})

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { connect as h2Connect } from 'node:http2'
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type ConnectionOptions, type SecureVersion, type TLSSocket } from 'node:tls'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { Agent, request as undiciRequest } from 'undici'
import { send, sleep, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { certDir, fingerprintOf, makePair, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'

// The TLS port (QUEUE_SERVING_TLS_PORT) with a throwaway self-signed certificate made by openssl
// at test time: same handler as the plain port, ALPN h2/http1.1, Knative's TLS env, reload.

const KUBELET = { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' }

interface HttpsReply { status: number; body: string; alpn: string | false | null; fingerprint: string; protocol: string | null }

/** One HTTPS/1.1 request over a fresh connection, trusting `ca`. */
function httpsGet (port: number, ca: Buffer[], opts: { path?: string; headers?: Record<string, string>; maxVersion?: SecureVersion; alpn?: string[] } = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions & ConnectionOptions = { host: '127.0.0.1', port, path: opts.path ?? '/', servername: 'localhost', ca, headers: opts.headers, agent: false, maxVersion: opts.maxVersion }
    if (opts.alpn !== undefined) options.ALPNProtocols = opts.alpn
    const req = httpsRequest(options, (res) => {
      const socket = res.socket as TLSSocket
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), alpn: socket.alpnProtocol, fingerprint: socket.getPeerCertificate().fingerprint256, protocol: socket.getProtocol() })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** The certificate a new TLS connection is shown. */
function peerFingerprint (port: number, ca: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      const fp = s.getPeerCertificate().fingerprint256
      s.destroy()
      resolve(fp)
    })
    s.on('error', reject)
  })
}


async function freePort (): Promise<number> {
  const s = createNetServer()
  await new Promise<void>((resolve) => { s.listen(0, '127.0.0.1', resolve) })
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  return port
}

const skip = SKIP_WITHOUT_OPENSSL

for (const server of ['sluice', 'node']) t.test(`HTTPS on the TLS port reaches the app with the usual rewrites; the plain port still works; both count (--http-server ${server})`, { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  let seen: Record<string, string | string[] | undefined> = {}
  const app = await startApp(t, (req, res) => { seen = req.headers; res.end(`app ${req.url} v${req.httpVersion}`) })
  const { url, ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2' }, ['--tls-port', '0', '--tls-cert-dir', certs.dir, '--http-server', server])
  t.not(ports.tls, null, 'TLS port listened on')
  const tlsPort = ports.tls ?? 0
  const r = await httpsGet(tlsPort, [pair.cert], {
    path: '/hello?x=1',
    headers: { 'x-forwarded-for': '203.0.113.7', 'knative-serving-revision': 'r', 'k-original-host': 'hello.example.com' },
    alpn: ['http/1.1'],
  })
  t.equal(r.status, 200)
  t.equal(r.body, 'app /hello?x=1 v1.1')
  t.equal(r.alpn, 'http/1.1', 'an HTTP/1.1 client negotiates http/1.1')
  t.equal(r.protocol, 'TLSv1.3')
  t.equal(r.fingerprint, fingerprintOf(pair.cert))
  t.equal(seen.host, 'hello.example.com', 'K-Original-Host restored')
  t.equal(seen['knative-serving-revision'], undefined, 'revision header stripped')
  t.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'client address appended')
  const noAlpn = await httpsGet(tlsPort, [pair.cert], { path: '/no-alpn' })
  t.equal(noAlpn.alpn, false)
  t.equal(noAlpn.body, 'app /no-alpn v1.1', 'a client without ALPN gets HTTP/1.1, as from Go')

  // undici (keep-alive) over TLS too.
  const agent = new Agent({ connect: { ca: pair.cert, servername: 'localhost' } })
  t.teardown(() => agent.close())
  const u = await undiciRequest(`https://127.0.0.1:${tlsPort}/via-undici`, { dispatcher: agent })
  t.equal(await u.body.text(), 'app /via-undici v1.1')

  const plain = await send(`${url}/plain`)
  t.equal(plain.body, 'app /plain v1.1', 'plain HTTP on the serving port')
  sidecar.stats.tick()
  t.equal(sidecar.stats.latest().requestCount, 4, 'TLS requests are counted like plain ones')
  t.equal(sidecar.breaker?.inFlight, 0)
})

t.test('a websocket over TLS (wss) is tunnelled to the app', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const wss = new WebSocketServer({ server: app.server })
  wss.on('connection', (ws) => { ws.on('message', (m: Buffer) => { ws.send(`echo:${m.toString()}`) }) })
  t.teardown(() => { wss.close() })
  const { ports } = await startSidecar(t, app.port, {}, ['--tls-port', '0', '--tls-cert-dir', certs.dir])
  const ws = new WebSocket(`wss://127.0.0.1:${ports.tls ?? 0}/socket`, { ca: pair.cert })
  t.teardown(() => { ws.terminate() })
  const reply = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => { ws.send('ping') })
    ws.on('message', (m: Buffer) => { resolve(m.toString()) })
    ws.on('error', reject)
  })
  t.equal(reply, 'echo:ping')
})

t.test('probes are answered on the TLS port', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const { ports, sidecar } = await startSidecar(t, app.port, {}, ['--tls-port', '0', '--tls-cert-dir', certs.dir])
  await until(() => sidecar.prober.isReady, 2000, 'ready')
  const tlsPort = ports.tls ?? 0
  const queue = await httpsGet(tlsPort, [pair.cert], { headers: KUBELET })
  t.equal(queue.status, 200)
  t.equal(queue.body, 'queue')
  const ingress = await httpsGet(tlsPort, [pair.cert], { headers: { 'k-network-probe': 'probe', 'k-network-hash': 'abc' } })
  t.equal(ingress.status, 200)
  t.equal(app.requests, 0, 'no probe reached the app')
})

t.test('h2 over TLS (ALPN h2) is served through the same handler', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const app = await startApp(t, (req, res) => { res.end(`app ${req.url} v${req.httpVersion}`) })
  const { ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, ['--tls-port', '0', '--tls-cert-dir', certs.dir, '--upstream-protocol', 'http1'])
  const session = h2Connect(`https://localhost:${ports.tls ?? 0}`, { ca: pair.cert, host: '127.0.0.1' })
  t.teardown(() => { session.destroy() })
  const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    session.on('error', reject)
    const stream = session.request({ ':path': '/over-h2' })
    let status = 0
    const chunks: Buffer[] = []
    stream.on('response', (h) => { status = Number(h[':status']) })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => { resolve({ status, body: Buffer.concat(chunks).toString() }) })
    stream.on('error', reject)
    stream.end()
  })
  t.equal(session.alpnProtocol, 'h2')
  t.equal(result.status, 200)
  t.equal(result.body, 'app /over-h2 v1.1', 'proxied to the HTTP/1.1 app')
  sidecar.stats.tick()
  t.equal(sidecar.stats.latest().requestCount, 1)
})

t.test('no certificate and key: the TLS port is not listened on, the sidecar serves', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'sluice-tls-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  writeFileSync(join(work, 'tls.crt'), 'only the cert') // both files are needed
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const tlsPort = await freePort()
  const { url, ports } = await startSidecar(t, app.port, {}, ['--tls-port', String(tlsPort), '--tls-cert-dir', work])
  t.equal(ports.tls, null)
  const refused = await new Promise<string>((resolve) => {
    const s = netConnect(tlsPort, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve('connected') })
    s.on('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? 'error') })
  })
  t.equal(refused, 'ECONNREFUSED')
  t.equal((await send(url)).body, 'app')
})

t.test('reload: a new pair reaches new connections; an open keep-alive connection keeps working; a bad pair is ignored', { skip }, async (t) => {
  const certs = certDir(t)
  const first = makePair(certs.work, 'first')
  const second = makePair(certs.work, 'second')
  certs.install(first)
  const app = await startApp(t, (req, res) => { res.end(`app ${req.url}`) })
  const { ports } = await startSidecar(t, app.port, {}, ['--tls-port', '0', '--tls-cert-dir', certs.dir], { certReloadMs: 50 })
  const tlsPort = ports.tls ?? 0
  const ca = [first.cert, second.cert]
  const fp1 = fingerprintOf(first.cert)
  const fp2 = fingerprintOf(second.cert)
  t.not(fp1, fp2)

  // A kept connection, opened with the first certificate.
  const kept = new Agent({ connect: { ca, servername: 'localhost' }, connections: 1 })
  t.teardown(() => kept.close())
  let connects = 0
  kept.on('connect', () => { connects++ })
  const a = await undiciRequest(`https://127.0.0.1:${tlsPort}/a`, { dispatcher: kept })
  t.equal(await a.body.text(), 'app /a')
  t.equal(await peerFingerprint(tlsPort, ca), fp1)

  certs.install(second)
  let seenFp = ''
  for (const end = performance.now() + 3000; performance.now() < end && seenFp !== fp2;) {
    seenFp = await peerFingerprint(tlsPort, ca)
    if (seenFp !== fp2) await sleep(20)
  }
  t.equal(seenFp, fp2, 'a new connection sees the new certificate')
  const b = await undiciRequest(`https://127.0.0.1:${tlsPort}/b`, { dispatcher: kept })
  t.equal(await b.body.text(), 'app /b', 'the kept connection still serves')
  t.equal(connects, 1, 'on the connection made before the reload')

  // A certificate whose key does not match: logged, the second pair stays.
  const third = makePair(certs.work, 'third')
  certs.install({ cert: third.cert, key: first.key })
  await sleep(200) // four reload ticks
  t.equal(await peerFingerprint(tlsPort, [...ca, third.cert]), fp2, 'a bad pair is not installed')
  const c = await httpsGet(tlsPort, ca, { path: '/c' })
  t.equal(c.body, 'app /c')
})

t.test('QUEUE_PROXY_TLS_MIN_VERSION: 1.3 (and the default) refuse a TLS 1.2-only client; 1.2 accepts it', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const app = await startApp(t, (_req, res) => { res.end('app') })
  for (const [env, refused] of [[{ QUEUE_PROXY_TLS_MIN_VERSION: '1.3' }, true], [{}, true], [{ QUEUE_PROXY_TLS_MIN_VERSION: '1.2' }, false]] as const) {
    const { ports } = await startSidecar(t, app.port, env, ['--tls-port', '0', '--tls-cert-dir', certs.dir])
    const outcome = await httpsGet(ports.tls ?? 0, [pair.cert], { maxVersion: 'TLSv1.2' }).then((r) => `${r.protocol ?? ''} ${r.body}`, (err: NodeJS.ErrnoException) => `refused ${err.code ?? ''}`)
    if (refused) t.match(outcome, /^refused/, `${JSON.stringify(env)}: refused`)
    else t.equal(outcome, 'TLSv1.2 app', `${JSON.stringify(env)}: served over TLS 1.2`)
  }
})

t.test('QUEUE_PROXY_TLS_CIPHER_SUITES limits TLS 1.2 suites (Go names)', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const { ports } = await startSidecar(t, app.port, { QUEUE_PROXY_TLS_MIN_VERSION: '1.2', QUEUE_PROXY_TLS_CIPHER_SUITES: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', QUEUE_PROXY_TLS_CURVE_PREFERENCES: 'CurveP256' }, ['--tls-port', '0', '--tls-cert-dir', certs.dir])
  const cipher = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: ports.tls ?? 0, servername: 'localhost', ca: pair.cert, maxVersion: 'TLSv1.2' }, () => {
      const name = s.getCipher().name
      s.destroy()
      resolve(name)
    })
    s.on('error', reject)
  })
  t.equal(cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384')
  const refused = await new Promise<string>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: ports.tls ?? 0, servername: 'localhost', ca: pair.cert, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, () => { s.destroy(); resolve('connected') })
    s.on('error', () => { resolve('refused') })
  })
  t.equal(refused, 'refused', 'a client without the configured suite is refused')
  const tls13 = await httpsGet(ports.tls ?? 0, [pair.cert])
  t.equal(tls13.protocol, 'TLSv1.3', 'TLS 1.3 suites stay on, as in Go')
})

t.test('drain: the TLS listener drains with the others; a connection stuck in its handshake does not hold the stop', { skip }, async (t) => {
  const certs = certDir(t)
  const pair = makePair(certs.work, 'localhost')
  certs.install(pair)
  const hold: Array<() => void> = []
  const app = await startApp(t, (req, res) => { hold.push(() => res.end(`app ${req.url}`)) })
  const { ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, ['--tls-port', '0', '--tls-cert-dir', certs.dir, '--drain-seconds', '0.1'])
  const tlsPort = ports.tls ?? 0
  const silent = netConnect(tlsPort, '127.0.0.1') // TCP only: never says hello
  silent.on('error', () => {})
  const silentClosed = new Promise<void>((resolve) => { silent.on('close', () => { resolve() }) })
  const inFlight = httpsGet(tlsPort, [pair.cert], { path: '/in-flight' })
  await until(() => hold.length === 1, 2000, 'request at the app')
  const started = performance.now()
  const done = sidecar.shutdown()
  await sleep(150)
  const h = hold.shift()
  if (h !== undefined) h()
  t.equal((await inFlight).body, 'app /in-flight', 'the in-flight TLS request finished')
  await done
  await silentClosed
  t.ok(performance.now() - started < 2000, 'stopped without waiting out the handshake timeout')
  const after = await new Promise<string>((resolve) => {
    const s = netConnect(tlsPort, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve('connected') })
    s.on('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? 'error') })
  })
  t.equal(after, 'ECONNREFUSED', 'TLS port closed')
})

import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect as h2Connect, createServer as createH2Server, type IncomingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { pino } from 'pino'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { Activator, type ActivatorDeps, type ActivatorPorts } from '../../src/activator/activator-server.ts'
import { InternalTls, tlsDestOf } from '../../src/activator/internal-tls.ts'
import type { EndpointProbe } from '../../src/proxy/endpoint-probe.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { DATA_PLANE_SERVER_NAME, dataPlaneUserSan } from '../../src/proxy/upstream-tls.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { CertificateLoadError } from '../../src/shared/errors.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { startApp, startSidecar } from '../helpers/sidecar-fixture.ts'
import { certDir, fingerprintOf, makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL, type CertDir, type Pair } from '../helpers/test-certs.ts'
import { createClient, echoOnce, openWebSocket, route, send, spec, until, type Teardown } from './fixtures.ts'

// The activator's system-internal-tls: a TLS client -> the activator's TLS port -> TLS (verified
// as Knative: CA from ca.crt, data-plane.knative.dev, SAN kn-user-<namespace>) -> a real sidecar's
// TLS port -> the app. Certificates are made by openssl at test time. Endpoints are given as the
// sidecars' TLS addresses (--pod-tls-port 0), since each test sidecar has its own random port.

const skip = SKIP_WITHOUT_OPENSSL
/** The activator's own certificate names (Knative's routing certificate: kn-routing). */
const ACTIVATOR_NAME = 'kn-routing'

interface Line { level: number; msg: string; dest?: string; err?: { message: string, code?: string } }

interface Certs { ca: Pair; otherCa: Pair; activator: Pair; activator2: Pair; pod: Pair; podOtherNs: Pair; podOtherCa: Pair }

let shared: Certs | null = null
function certs (t: Teardown): Certs {
  if (shared !== null) return shared
  const dir = mkdtempSync(join(tmpdir(), 'sluice-acttls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const ca = makeCa(dir, 'ca')
  const otherCa = makeCa(dir, 'other-ca')
  const podNames = [dataPlaneUserSan('default'), DATA_PLANE_SERVER_NAME]
  shared = {
    ca,
    otherCa,
    activator: makeLeaf(dir, ca, 'activator', [ACTIVATOR_NAME, DATA_PLANE_SERVER_NAME]),
    activator2: makeLeaf(dir, ca, 'activator-rotated', [ACTIVATOR_NAME, DATA_PLANE_SERVER_NAME]),
    pod: makeLeaf(dir, ca, 'pod', podNames),
    podOtherNs: makeLeaf(dir, ca, 'pod-other-ns', [dataPlaneUserSan('other'), DATA_PLANE_SERVER_NAME]),
    podOtherCa: makeLeaf(dir, otherCa, 'pod-other-ca', podNames),
  }
  return shared
}

interface TlsActivator {
  activator: Activator
  ports: ActivatorPorts
  lines: Line[]
  timers: ManualTimers
}

async function startTlsActivator (t: Teardown, argv: string[], deps: ActivatorDeps = {}): Promise<TlsActivator> {
  const loaded = loadActivatorConfig(['--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--tls-port', '0', ...argv], { POD_NAME: 'activator-tls-test' })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const lines: Line[] = []
  const logger = pino({ level: 'info' }, { write (s: string) { lines.push(JSON.parse(s) as Line) } })
  const timers = new ManualTimers(new ManualClock())
  const activator = new Activator(loaded.config, logger, { certReloadMs: 60_000, timers, ...deps })
  t.teardown(() => activator.close())
  const ports = await activator.listen()
  return { activator, ports, lines, timers }
}

/** A real sidecar serving TLS with `pair` in front of an app that answers `app <name> <url>`. */
async function tlsPod (t: Teardown, name: string, pair: Pair, websockets = false): Promise<{ dest: string, plainDest: string, app: { requests: number } }> {
  const dir = certDir(t)
  dir.install(pair)
  const state = { requests: 0 }
  const app = await startApp(t, (req, res) => { state.requests++; res.end(`app ${name} ${req.url ?? ''}`) })
  if (websockets) {
    const wss = new WebSocketServer({ server: app.server })
    wss.on('connection', (ws) => { ws.on('message', (m: Buffer) => { ws.send(`echo ${m.toString()}`) }) })
    t.teardown(() => { wss.close() })
  }
  const { ports } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '0' }, ['--tls-port', '0', '--tls-cert-dir', dir.dir])
  if (ports.tls === null) throw new Error('sidecar TLS port not listening')
  return { dest: `127.0.0.1:${ports.tls}`, plainDest: `127.0.0.1:${ports.serving}`, app: state }
}

function activatorCertDir (t: Teardown, c: Certs): CertDir {
  const dir = certDir(t)
  dir.install(c.activator, c.ca.cert)
  return dir
}

interface HttpsReply { status: number; body: string; fingerprint: string }

/** One HTTPS/1.1 request over a new connection to the activator's TLS port, trusting `ca`. */
function httpsGet (port: number, ca: Buffer, path: string, headers: Record<string, string>): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, headers, servername: ACTIVATOR_NAME, ca, agent: false }, (res) => {
      const socket = res.socket as TLSSocket
      const fingerprint = socket.getPeerCertificate().fingerprint256
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), fingerprint }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** The certificate a new TLS connection to `port` is shown. */
function peerFingerprint (port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: ACTIVATOR_NAME, ca }, () => {
      const fp = s.getPeerCertificate().fingerprint256
      s.destroy()
      resolve(fp)
    })
    s.on('error', reject)
  })
}

t.test('a TLS client reaches the app through the activator\'s TLS port and a sidecar\'s TLS port; probes and requests to the pod go over TLS', { skip }, async (t) => {
  const c = certs(t)
  const pod = await tlsPod(t, 'a', c.pod)
  const dir = activatorCertDir(t, c)
  const { activator, ports } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0'])
  t.not(ports.tls, null, 'TLS port listening')
  activator.registry.upsert(spec('hello', [pod.dest], 0))
  // The pod's address is its TLS port: only a TLS probe can make it ready.
  await until(() => activator.registry.lookup('default', 'hello')?.readyCount === 1, 5_000, 'TLS probe passes')
  const r = await httpsGet(ports.tls ?? 0, c.ca.cert, '/via-tls?x=1', route('hello'))
  t.equal(r.status, 200)
  t.equal(r.body, 'app a /via-tls?x=1')
  t.equal(r.fingerprint, fingerprintOf(c.activator.cert), 'the activator serves its certificate')
  // Knative keeps plain HTTP on 8012 beside 8112; both dial the pod over TLS.
  const agent = createClient(t)
  const plain = await send(agent, `http://127.0.0.1:${ports.serving}`, { path: '/plain', headers: route('hello') })
  t.equal(plain.body, 'app a /plain')
  t.equal(pod.app.requests, 2)
})

for (const client of ['sluice', 'undici']) t.test(`websockets and requests go to the pod over TLS too (--upstream-client ${client})`, { skip }, async (t) => {
  const c = certs(t)
  const pod = await tlsPod(t, 'ws', c.pod, true)
  const dir = activatorCertDir(t, c)
  const { activator, ports } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0', '--upstream-client', client])
  activator.registry.upsert(spec('ws', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'ws')?.readyCount === 1, 5_000, 'TLS probe passes')
  const agent = createClient(t)
  const r = await send(agent, `http://127.0.0.1:${ports.serving}`, { path: '/req', headers: route('ws') })
  t.equal(r.body, 'app ws /req')
  // The pod's address is its TLS port: a plain tunnel would not get past the handshake.
  const ws = await openWebSocket(`ws://127.0.0.1:${ports.serving}/socket`, route('ws'))
  t.teardown(() => { ws.terminate() })
  t.equal(await echoOnce(ws, 'over tls'), 'echo over tls')
})

t.test('HTTP/2 (gRPC) requests go to the pod as h2 over TLS, with their trailers, as Knative\'s activator sends them', { skip }, async (t) => {
  const c = certs(t)
  // An HTTP/2-only app: an HTTP/1.1 request reaching it (had the activator sent one over TLS) fails.
  const app = createH2Server()
  const seen: IncomingHttpHeaders[] = []
  app.on('stream', (stream, headers) => {
    seen.push(headers)
    stream.on('error', () => {})
    const chunks: Buffer[] = []
    stream.on('data', (b: Buffer) => chunks.push(b))
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'over tls' }) })
      stream.end(Buffer.concat(chunks))
    })
  })
  app.listen(0, '127.0.0.1')
  await once(app, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { app.close(() => { resolve() }) }))
  const dir = certDir(t)
  dir.install(c.pod)
  const { ports: sidecarPorts } = await startSidecar(t, (app.address() as AddressInfo).port, { CONTAINER_CONCURRENCY: '0' }, ['--tls-port', '0', '--tls-cert-dir', dir.dir])
  if (sidecarPorts.tls === null) throw new Error('sidecar TLS port not listening')
  const { activator, ports } = await startTlsActivator(t, ['--tls-cert-dir', activatorCertDir(t, c).dir, '--internal-tls', '--pod-tls-port', '0'])
  activator.registry.upsert(spec('grpc', [`127.0.0.1:${sidecarPorts.tls}`], 0))
  await until(() => activator.registry.lookup('default', 'grpc')?.readyCount === 1, 5_000, 'TLS probe passes')
  const session = h2Connect(`http://127.0.0.1:${ports.serving}`)
  session.on('error', () => {})
  t.teardown(() => { session.destroy() })
  const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...route('grpc') })
  const out = { status: 0, body: '', trailers: {} as IncomingHttpHeaders }
  stream.on('response', (h) => { out.status = Number(h[':status']) })
  stream.on('data', (b: Buffer) => { out.body += b.toString() })
  stream.on('trailers', (tr) => { out.trailers = tr })
  stream.end('hello over tls')
  await once(stream, 'end')
  t.equal(out.status, 200)
  t.equal(out.body, 'hello over tls')
  t.equal(out.trailers['grpc-status'], '0', 'the trailer crossed activator -> TLS -> sidecar -> app and back')
  t.equal(seen.length, 1)
  t.equal(seen[0]?.['k-proxy-request'], 'activator')
})

t.test('mesh-compatibility-mode enabled: the private service is dialed and probed over TLS too (Knative: its 443)', { skip }, async (t) => {
  const c = certs(t)
  const service = await tlsPod(t, 'service', c.pod)
  const pod = await tlsPod(t, 'pod', c.pod)
  const dir = activatorCertDir(t, c)
  const { activator, ports } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0'])
  // --pod-tls-port 0: the service's address is used as given (here a sidecar's TLS port, not 443).
  activator.registry.upsert(spec('svc', [pod.dest], 0, { clusterIp: { mode: 'enabled', dest: service.dest } }))
  await until(() => activator.registry.lookup('default', 'svc')?.clusterIp?.tracker?.isReady === true, 5_000, 'service probed over TLS')
  const agent = createClient(t)
  const r = await send(agent, `http://127.0.0.1:${ports.serving}`, { path: '/mesh', headers: route('svc') })
  t.equal(r.body, 'app service /mesh')
  t.equal(pod.app.requests, 0, 'not to the pod')
})

t.test('a pod whose certificate fails verification gets no traffic: its TLS probe fails and says why', { skip }, async (t) => {
  const c = certs(t)
  const good = await tlsPod(t, 'good', c.pod)
  const otherNs = await tlsPod(t, 'other-ns', c.podOtherNs)
  const otherCa = await tlsPod(t, 'other-ca', c.podOtherCa)
  const dir = activatorCertDir(t, c)
  const { activator, ports, lines } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0'])
  activator.registry.upsert(spec('mixed', [good.dest, otherNs.dest, otherCa.dest], 0))
  const failed = (dest: string): boolean => lines.some((l) => l.msg === 'endpoint failed TLS verification; it stays out of rotation' && l.dest === dest)
  await until(() => failed(otherNs.dest) && failed(otherCa.dest), 5_000, 'both bad pods logged')
  await until(() => activator.registry.lookup('default', 'mixed')?.readyCount === 1, 5_000, 'the good pod ready')
  const agent = createClient(t)
  for (let i = 0; i < 10; i++) {
    const r = await send(agent, `http://127.0.0.1:${ports.serving}`, { path: `/${i}`, headers: route('mixed') })
    t.equal(r.body, `app good /${i}`)
  }
  t.equal(otherNs.app.requests, 0, 'the pod with another namespace\'s SAN got nothing')
  t.equal(otherCa.app.requests, 0, 'the pod with another CA\'s certificate got nothing')
  const line = lines.find((l) => l.dest === otherNs.dest)
  t.match(line?.err, { code: 'SLUICE_ERR_PROXY_UPSTREAM_TLS', message: /kn-user-default/ }, 'the log names the SAN it wanted')
})

t.test('a pod that fails verification after passing its probe: 502 with the code, not a hang', { skip }, async (t) => {
  const c = certs(t)
  const bad = await tlsPod(t, 'bad', c.podOtherNs)
  const dir = activatorCertDir(t, c)
  // A probe that always passes: the failure is left to the request path.
  const alwaysReady: EndpointProbe = { probe: () => Promise.resolve(true) }
  const { activator, ports } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0'], { probe: alwaysReady })
  activator.registry.upsert(spec('bad', [bad.dest], 0))
  await until(() => activator.registry.lookup('default', 'bad')?.readyCount === 1, 5_000, 'ready')
  const agent = createClient(t)
  const r = await send(agent, `http://127.0.0.1:${ports.serving}`, { path: '/', headers: route('bad') })
  t.equal(r.status, 502)
  t.equal(r.body, 'upstream request failed: SLUICE_ERR_PROXY_UPSTREAM_TLS\n')
  await until(() => activator.registry.lookup('default', 'bad')?.readyCount === 1, 5_000, 'ready again')
  const ws = openWebSocket(`ws://127.0.0.1:${ports.serving}/socket`, route('bad'))
  await t.rejects(ws, /status 502/, 'an upgrade is refused with a 502 too')
  await until(() => activator.registry.lookup('default', 'bad')?.readyCount === 1, 5_000, 'ready again')
  // HTTP/2 goes as h2 over TLS: the same verification, the same typed failure.
  const session = h2Connect(`http://127.0.0.1:${ports.serving}`)
  session.on('error', () => {})
  t.teardown(() => { session.destroy() })
  const stream = session.request({ ':path': '/h2', ...route('bad') })
  let status = 0
  let body = ''
  stream.on('response', (h) => { status = Number(h[':status']) })
  stream.on('data', (b: Buffer) => { body += b.toString() })
  stream.end()
  await once(stream, 'end')
  t.equal(status, 502)
  t.equal(body, 'upstream request failed: SLUICE_ERR_PROXY_UPSTREAM_TLS\n', 'an HTTP/2 request gets the TLS failure too')
  t.equal(bad.app.requests, 0)
})

t.test('rotation: a new pair in the cert dir is served after the reload tick; a bad pair is logged and the old one stays', { skip }, async (t) => {
  const c = certs(t)
  const dir = activatorCertDir(t, c)
  const { ports, lines, timers } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir])
  const port = ports.tls ?? 0
  t.equal(await peerFingerprint(port, c.ca.cert), fingerprintOf(c.activator.cert))

  dir.install(c.activator2)
  await timers.advance(59_999)
  t.equal(await peerFingerprint(port, c.ca.cert), fingerprintOf(c.activator.cert), 'not before the interval')
  await timers.advance(1)
  await until(() => lines.some((l) => l.msg === 'TLS certificate and/or key changed on disk and were reloaded'), 5_000, 'reload logged')
  t.equal(await peerFingerprint(port, c.ca.cert), fingerprintOf(c.activator2.cert), 'new connections get the new certificate')

  // A key that does not match the certificate: refused, logged, the current pair stays.
  dir.install({ cert: c.activator.cert, key: c.activator2.key })
  await timers.advance(60_000)
  await until(() => lines.some((l) => l.msg === 'cannot reload the TLS certificate; keeping the current one'), 5_000, 'error logged')
  t.equal(await peerFingerprint(port, c.ca.cert), fingerprintOf(c.activator2.cert), 'still the last good pair')
})

t.test('rotation of ca.crt: a pod signed by the new CA becomes ready after the reload', { skip }, async (t) => {
  const c = certs(t)
  const pod = await tlsPod(t, 'new-ca', c.podOtherCa)
  const dir = activatorCertDir(t, c)
  const { activator, lines, timers } = await startTlsActivator(t, ['--tls-cert-dir', dir.dir, '--internal-tls', '--pod-tls-port', '0'])
  activator.registry.upsert(spec('rot', [pod.dest], 0))
  await until(() => lines.some((l) => l.dest === pod.dest && l.err?.code === 'SLUICE_ERR_PROXY_UPSTREAM_TLS'), 5_000, 'not trusted yet')
  // The Secret now carries both CAs (a CA rotation publishes the new one beside the old).
  dir.install(c.activator, Buffer.concat([c.ca.cert, c.otherCa.cert]))
  await timers.advance(60_000)
  await until(() => activator.registry.lookup('default', 'rot')?.readyCount === 1, 5_000, 'ready with the new CA')
  t.pass('trusted after the reload')
})

t.test('plain mode: without --internal-tls endpoints are dialed in plain HTTP; without cert files there is no TLS port', { skip }, async (t) => {
  const c = certs(t)
  const pod = await tlsPod(t, 'plain', c.pod)
  const dir = activatorCertDir(t, c)
  const withCert = await startTlsActivator(t, ['--tls-cert-dir', dir.dir])
  withCert.activator.registry.upsert(spec('p', [pod.plainDest], 0))
  await until(() => withCert.activator.registry.lookup('default', 'p')?.readyCount === 1, 5_000, 'plain probe')
  const viaTls = await httpsGet(withCert.ports.tls ?? 0, c.ca.cert, '/tls-in', route('p'))
  t.equal(viaTls.body, 'app plain /tls-in', 'TLS in, plain out (the TLS port only needs the pair)')

  const empty = certDir(t)
  const none = await startTlsActivator(t, ['--tls-cert-dir', empty.dir])
  t.equal(none.ports.tls, null, 'no tls.crt/tls.key: no TLS port')
  none.activator.registry.upsert(spec('p', [pod.plainDest], 0))
  await until(() => none.activator.registry.lookup('default', 'p')?.readyCount === 1, 5_000, 'plain probe')
  const agent = createClient(t)
  const r = await send(agent, `http://127.0.0.1:${none.ports.serving}`, { path: '/plain', headers: route('p') })
  t.equal(r.body, 'app plain /plain')
})

t.test('internal TLS without the activator\'s certificate is a start-up error (Knative exits without its Secret)', { skip }, async (t) => {
  const empty = certDir(t)
  const loaded = loadActivatorConfig(['--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--tls-port', '0', '--tls-cert-dir', empty.dir, '--internal-tls'], {})
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const activator = new Activator(loaded.config, pino({ level: 'silent' }))
  t.teardown(() => activator.close())
  await t.rejects(activator.listen(), CertificateLoadError)
})

t.test('pods\' TLS address: Knative\'s port swap (8012 -> 8112), or the endpoint as given with port 0', async (t) => {
  t.equal(tlsDestOf('10.0.0.7:8012', 8112), '10.0.0.7:8112')
  t.equal(tlsDestOf('[fd00::7]:8013', 8112), '[fd00::7]:8112')
  t.equal(tlsDestOf('10.0.0.7:9443', 0), '10.0.0.7:9443')
  // A private service goes to its 443 (Knative's handler.go isClusterIP), pods to --pod-tls-port.
  const internal = new InternalTls({ ca: null, port: 8112, upstreamClient: 'sluice', connectTimeoutMs: 1_000, logger: pino({ level: 'silent' }) })
  t.teardown(() => internal.close())
  const pod = internal.createPool('10.0.0.7:8012', 'default')
  const service = internal.createPool('10.96.0.10:80', 'default', internal.servicePort)
  t.teardown(() => Promise.all([pod.close(), service.close()]))
  t.match(pod.secureAddress, { host: '10.0.0.7', port: 8112 })
  t.match(service.secureAddress, { host: '10.96.0.10', port: 443 })
  t.equal(new InternalTls({ ca: null, port: 0, upstreamClient: 'sluice', connectTimeoutMs: 1_000, logger: pino({ level: 'silent' }) }).servicePort, 0, 'port 0: addresses as given, services too')
})

import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { H1Upstream } from '../../src/proxy/h1-upstream.ts'
import { DATA_PLANE_SERVER_NAME, UpstreamTrust, dataPlaneUserSan } from '../../src/proxy/upstream-tls.ts'
import { makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL, type Pair } from '../helpers/test-certs.ts'
import { Collector, get, listen, type Teardown } from './h1-fixtures.ts'

// H1Upstream with a SecureDialer (UpstreamTrust/UpstreamTlsDialer): Knative's activator checks,
// one per row, against a real HTTPS server on 127.0.0.1. The activator-level test is
// test/activator/tls.test.ts.

const skip = SKIP_WITHOUT_OPENSSL

interface Certs { ca: Pair; otherCa: Pair; good: Pair; wrongNamespace: Pair; noDataPlaneName: Pair; otherCaLeaf: Pair }

let certs: Certs | null = null
function allCerts (t: Teardown): Certs {
  if (certs !== null) return certs
  const dir = mkdtempSync(join(tmpdir(), 'sluice-uptls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const ca = makeCa(dir, 'ca')
  const otherCa = makeCa(dir, 'other-ca')
  certs = {
    ca,
    otherCa,
    good: makeLeaf(dir, ca, 'good', [dataPlaneUserSan('ns'), DATA_PLANE_SERVER_NAME]),
    wrongNamespace: makeLeaf(dir, ca, 'wrong-ns', [dataPlaneUserSan('other'), DATA_PLANE_SERVER_NAME]),
    noDataPlaneName: makeLeaf(dir, ca, 'no-dp', [dataPlaneUserSan('ns')]),
    otherCaLeaf: makeLeaf(dir, otherCa, 'other-leaf', [dataPlaneUserSan('ns'), DATA_PLANE_SERVER_NAME]),
  }
  return certs
}

async function httpsApp (t: Teardown, pair: Pair): Promise<{ port: number, sni: string[] }> {
  const sni: string[] = []
  const server = createHttpsServer({ cert: pair.cert, key: pair.key }, (req, res) => { res.end(`tls ${req.url}`) })
  server.on('secureConnection', (s: { servername?: string | false }) => { sni.push(typeof s.servername === 'string' ? s.servername : '') })
  return { port: await listen(t, server), sni }
}

async function send (up: H1Upstream, path = '/'): Promise<Collector> {
  const c = new Collector()
  up.dispatch(get(path), c)
  await c.done
  return c
}

t.test('a pod certificate from the trusted CA naming kn-user-<namespace> and data-plane.knative.dev is accepted; keep-alive over TLS', { skip }, async (t) => {
  const c = allCerts(t)
  const app = await httpsApp(t, c.good)
  const trust = new UpstreamTrust(c.ca.cert)
  const up = new H1Upstream({ host: '127.0.0.1', port: app.port, secure: trust.dialerFor('ns') })
  t.teardown(() => { up.destroy() })
  for (let i = 0; i < 3; i++) {
    const r = await send(up, `/n/${i}`)
    t.equal(r.error, null)
    t.equal(r.status, 200)
    t.equal(r.body, `tls /n/${i}`)
  }
  t.equal(up.stats.opened, 1, 'one TLS connection for all three')
  t.same(app.sni, [DATA_PLANE_SERVER_NAME], 'SNI is data-plane.knative.dev, as Knative\'s ServerName')
})

const REFUSED: Array<{ name: string, pair: (c: Certs) => Pair, trusted: (c: Certs) => Buffer | null, namespace: string, why: RegExp }> = [
  { name: 'the SAN of another namespace', pair: (c) => c.wrongNamespace, trusted: (c) => c.ca.cert, namespace: 'ns', why: /san "kn-user-ns" does not have a matching name/ },
  { name: 'no data-plane.knative.dev name', pair: (c) => c.noDataPlaneName, trusted: (c) => c.ca.cert, namespace: 'ns', why: /data-plane\.knative\.dev/ },
  { name: 'a certificate from another CA', pair: (c) => c.otherCaLeaf, trusted: (c) => c.ca.cert, namespace: 'ns', why: /certificate/i },
  { name: 'no CA at all (the system roots are not trusted)', pair: (c) => c.good, trusted: () => null, namespace: 'ns', why: /certificate/i },
  { name: 'a namespace whose SAN (kn-user- + the lowercased namespace) the certificate lacks', pair: (c) => c.good, trusted: (c) => c.ca.cert, namespace: 'NS-other', why: /kn-user-ns-other/ },
]

for (const row of REFUSED) {
  t.test(`refused with SLUICE_ERR_PROXY_UPSTREAM_TLS (502), not sent: ${row.name}`, { skip }, async (t) => {
    const c = allCerts(t)
    let requests = 0
    const server = createHttpsServer({ cert: row.pair(c).cert, key: row.pair(c).key }, (_req, res) => { requests++; res.end('no') })
    server.on('tlsClientError', () => {})
    const port = await listen(t, server)
    const up = new H1Upstream({ host: '127.0.0.1', port, secure: new UpstreamTrust(row.trusted(c)).dialerFor(row.namespace) })
    t.teardown(() => { up.destroy() })
    const r = await send(up)
    t.match(r.error, { code: 'SLUICE_ERR_PROXY_UPSTREAM_TLS', statusCode: 502, name: 'UpstreamTlsError' })
    t.match(String(r.error?.message), row.why)
    t.equal(requests, 0, 'no request reached the server')
    t.equal(up.stats.connections, 0, 'the connection is gone')
  })
}

t.test('a refused connection keeps its OS code (retried and re-probed like a plain one)', { skip }, async (t) => {
  const c = allCerts(t)
  const server = createHttpsServer({ cert: c.good.cert, key: c.good.key })
  const port = await listen(t, server)
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  const up = new H1Upstream({ host: '127.0.0.1', port, secure: new UpstreamTrust(c.ca.cert).dialerFor('ns') })
  t.teardown(() => { up.destroy() })
  const r = await send(up)
  t.equal(r.error?.code, 'ECONNREFUSED')
})

t.test('setCa: new connections verify against the rotated CA; the old one no longer verifies', { skip }, async (t) => {
  const c = allCerts(t)
  const app = await httpsApp(t, c.otherCaLeaf)
  const trust = new UpstreamTrust(c.ca.cert)
  const dialer = trust.dialerFor('ns')
  const before = new H1Upstream({ host: '127.0.0.1', port: app.port, secure: dialer })
  t.teardown(() => { before.destroy() })
  t.equal((await send(before)).error?.code, 'SLUICE_ERR_PROXY_UPSTREAM_TLS')
  trust.setCa(c.otherCa.cert)
  const after = new H1Upstream({ host: '127.0.0.1', port: app.port, secure: dialer })
  t.teardown(() => { after.destroy() })
  const r = await send(after, '/rotated')
  t.equal(r.body, 'tls /rotated', 'the same dialer picks up the new trust pool')
})

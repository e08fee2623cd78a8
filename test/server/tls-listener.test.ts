// The TLS listener in front of a port's servers (Knative's queue-proxy serves 8112 with TLS): ALPN
// picks the server as Go's ServeTLS does (h2 -> the HTTP/2 server, http/1.1 or none -> the HTTP/1.1
// server), and a connection still in its handshake is one a drain closes. Real TLS on loopback with
// a certificate made by openssl.
import { request as httpsRequest } from 'node:https'
import { connect as h2connect } from 'node:http2'
import { connect as netConnect, type AddressInfo } from 'node:net'
import type { Server as TlsServer } from 'node:tls'
import t, { type Test } from 'tap'
import { closeAllConnections, createDualServer, destroySilentConnections, type DualServer, type HttpServerImpl } from '../../src/server/h2c-sniffing-server.ts'
import { createTlsListener } from '../../src/server/tls-listener.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { makePair, type Pair, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'

async function start (t: Test, pair: Pair, impl: HttpServerImpl, http2: boolean): Promise<{ servers: DualServer, tls: TlsServer, port: number }> {
  const servers = createDualServer({ impl, http2, keepAliveTimeoutMs: 5_000, headersTimeoutMs: 5_000, maxHeadBytes: 64 * 1024, logger: silentLogger() },
    (req, res) => {
      const body = Buffer.from(`HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}`)
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) })
      res.end(body)
    })
  const tls = createTlsListener(servers, { secure: { cert: pair.cert, key: pair.key }, handshakeTimeoutMs: 5_000, logger: silentLogger() })
  await new Promise<void>((resolve) => { tls.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { closeAllConnections(servers); tls.close() })
  return { servers, tls, port: (tls.address() as AddressInfo).port }
}

async function viaHttps (port: number, ca: Buffer): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, ca, servername: 'localhost', agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c })
      res.on('end', () => { resolve(body) })
    })
    req.on('error', reject)
    req.end()
  })
}

async function viaH2 (port: number, ca: Buffer): Promise<string> {
  const session = h2connect(`https://localhost:${port}`, { ca, host: '127.0.0.1', servername: 'localhost' })
  try {
    return await new Promise<string>((resolve, reject) => {
      session.on('error', reject)
      const stream = session.request({ ':path': '/' })
      let body = ''
      stream.on('data', (c: Buffer) => { body += c })
      stream.on('end', () => { resolve(body) })
      stream.on('error', reject)
    })
  } finally {
    session.close()
  }
}

t.test('ALPN picks the server: http/1.1 to the HTTP/1.1 server, h2 to the HTTP/2 one', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const pair = makePair(t.testdir(), 'localhost')
  for (const impl of ['sluice', 'node'] as const) {
    const { port } = await start(t, pair, impl, true)
    t.equal(await viaHttps(port, pair.cert), 'HTTP/1.1', `${impl}: https`)
    t.equal(await viaH2(port, pair.cert), 'HTTP/2.0', `${impl}: h2`)
  }
})

t.test('without HTTP/2 the listener offers http/1.1 only: an h2-only client cannot negotiate', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const pair = makePair(t.testdir(), 'localhost')
  const { port } = await start(t, pair, 'sluice', false)
  t.equal(await viaHttps(port, pair.cert), 'HTTP/1.1')
  await t.rejects(viaH2(port, pair.cert))
})

t.test('a connection still in its handshake is silent: a drain closes it', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const pair = makePair(t.testdir(), 'localhost')
  const { servers, port } = await start(t, pair, 'sluice', true)
  const s = netConnect(port, '127.0.0.1')
  s.on('error', () => {})
  const closed = new Promise<void>((resolve) => { s.on('close', () => { resolve() }) })
  while (servers.silent.size === 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
  destroySilentConnections(servers)
  await closed
  while (servers.silent.size > 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.equal(servers.silent.size, 0, 'forgotten once closed')
})

t.test('a failed handshake (plain HTTP on the TLS port) closes the connection', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const pair = makePair(t.testdir(), 'localhost')
  const { servers, port } = await start(t, pair, 'sluice', true)
  const s = netConnect(port, '127.0.0.1')
  s.on('error', () => {})
  const closed = new Promise<void>((resolve) => { s.on('close', () => { resolve() }) })
  s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await closed
  while (servers.silent.size > 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
  t.pass('closed by the listener')
})

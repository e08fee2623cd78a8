// H1Port: the sidecar's admin and metrics ports, H1Server alone on a net server. An Upgrade goes
// to a node:http server with no 'upgrade' listener, which closes the connection.
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { H1Port } from '../../src/server/h1-port.ts'
import { silentLogger } from '../../src/shared/logger.ts'

async function startPort (t: { teardown (fn: () => void): void }): Promise<{ port: H1Port, address: number }> {
  const port = new H1Port({ keepAliveTimeoutMs: 5_000, headersTimeoutMs: 5_000, maxHeadBytes: 16 * 1024, logger: silentLogger() }, (req, res) => {
    res.writeHead(200, ['content-type', 'text/plain', 'content-length', '3'])
    res.end(Buffer.from(req.method === 'POST' ? 'pst' : 'get'))
  })
  await new Promise<void>((resolve) => { port.net.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { port.close() })
  return { port, address: (port.net.address() as AddressInfo).port }
}

async function exchange (address: number, raw: string): Promise<string> {
  return await new Promise<string>((resolve) => {
    const s = connect(address, '127.0.0.1')
    let data = ''
    s.on('data', (c: Buffer) => { data += c })
    s.on('error', () => {})
    s.on('close', () => { resolve(data) })
    s.end(raw)
  })
}

t.test('serves HTTP/1.1 requests, keep-alive included', async (t) => {
  const { address } = await startPort(t)
  const out = await exchange(address, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  t.match(out, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nget/)
  t.match(out, /HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npst$/)
})

t.test('an Upgrade request is handed to the fallback, which closes the connection without an answer', async (t) => {
  const { address } = await startPort(t)
  const out = await exchange(address, 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  t.equal(out, '')
})

t.test('close stops listening and ends open connections', async (t) => {
  const { port, address } = await startPort(t)
  const s = connect(address, '127.0.0.1')
  await new Promise<void>((resolve) => { s.on('connect', resolve) })
  const closed = new Promise<void>((resolve) => { s.on('close', () => { resolve() }) })
  s.on('error', () => {})
  port.close()
  await closed
  t.equal(port.net.listening, false)
})

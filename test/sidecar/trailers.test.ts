import { createServer as createH2Server } from 'node:http2'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import { rawConnect } from '../helpers/raw-client.ts'
import { startSidecar, type Teardown, until } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

// Issue 13, defect 5: response trailers that must not be trailers (RFC 9110 6.5.1: framing,
// routing, authentication, response controls, content format) are dropped before the response is
// relayed, whichever upstream client read them (HTTP/1.1 or h2c); the others (gRPC's) go through.

const FORBIDDEN = [
  ['Set-Cookie', 'session=evil'], ['Authorization', 'Bearer x'], ['Host', 'evil.example'], ['WWW-Authenticate', 'Basic'],
  ['Content-Type', 'text/evil'], ['Content-Encoding', 'gzip'], ['Cache-Control', 'public'], ['Location', '/evil'],
  ['If-Match', '*'], ['Trailer', 'x'], ['Vary', '*'], ['Proxy-Authenticate', 'Basic'],
]
const ALLOWED = [['grpc-status', '0'], ['grpc-message', 'ok'], ['X-Checksum', 'abc']]

/** An HTTP/1.1 app writing one chunked response with the given trailer lines, raw. */
async function startTrailerApp (t: Teardown, trailerLines: string): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createNetServer((sock) => {
    sockets.add(sock)
    sock.on('error', () => {})
    let head = ''
    sock.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      head = ''
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n' +
        '5\r\nhello\r\n0\r\n' + trailerLines + '\r\n')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return (server.address() as AddressInfo).port
}

/** The trailer section of the one chunked response in `raw`, as lowercase name -> value. */
function trailersOf (raw: string): Record<string, string> {
  const last = raw.indexOf('\r\n0\r\n')
  if (last < 0) throw new Error(`no last chunk in ${JSON.stringify(raw)}`)
  const section = raw.slice(last + 5, raw.indexOf('\r\n\r\n', last + 3))
  const out: Record<string, string> = {}
  for (const line of section.split('\r\n')) {
    if (line === '') continue
    const colon = line.indexOf(':')
    out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return out
}

test('HTTP/1.1 upstream: forbidden trailers are dropped, the others relayed', async (t, stack) => {
  const lines = [...FORBIDDEN, ...ALLOWED].map(([n, v]) => `${n}: ${v}\r\n`).join('')
  const port = await startTrailerApp(t, lines)
  const { ports } = await startSidecar(t, port, {}, stack.argv)
  const client = await rawConnect(ports.serving)
  client.socket.write('GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n')
  await until(() => client.text().includes('\r\n0\r\n') && client.text().endsWith('\r\n\r\n'), 2000, 'the whole response')
  client.socket.destroy()
  const raw = client.text()
  t.match(raw, /^HTTP\/1\.1 200 /)
  t.match(raw, /\r\n5\r\nhello\r\n0\r\n/, 'the body')
  t.same(trailersOf(raw), { 'grpc-status': '0', 'grpc-message': 'ok', 'x-checksum': 'abc' })
})

test('HTTP/1.1 upstream: only forbidden trailers: the response ends with an empty trailer section', async (t, stack) => {
  const port = await startTrailerApp(t, 'Set-Cookie: a=b\r\nHost: evil\r\n')
  const { ports } = await startSidecar(t, port, {}, stack.argv)
  const client = await rawConnect(ports.serving)
  client.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => client.text().endsWith('\r\n0\r\n\r\n'), 2000, 'the last chunk')
  client.socket.destroy()
  t.same(trailersOf(client.text()), {})
})

test('h2c upstream: forbidden trailers are dropped, the others relayed', async (t, stack) => {
  const server = createH2Server()
  server.on('stream', (stream) => {
    stream.on('data', () => {})
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok', 'set-cookie': 'session=evil', authorization: 'Bearer x', 'content-type': 'text/evil', 'www-authenticate': 'Basic', location: '/evil' })
      })
      stream.end('hello')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  const { ports } = await startSidecar(t, (server.address() as AddressInfo).port, {}, [...stack.argv, '--upstream-protocol', 'h2c'])
  const client = await rawConnect(ports.serving)
  client.socket.write('POST / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n')
  await until(() => client.text().includes('\r\n0\r\n') && client.text().endsWith('\r\n\r\n'), 2000, 'the whole response')
  client.socket.destroy()
  t.same(trailersOf(client.text()), { 'grpc-status': '0', 'grpc-message': 'ok' })
})

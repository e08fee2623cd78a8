import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { startApp, startSidecar } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

function rawRequest (port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.write(bytes) })
    let d = ''
    s.on('data', (c: Buffer) => { d += c.toString('latin1') })
    s.on('close', () => { resolve(d) })
  })
}

test('header bytes Node accepts (obs-text) pass through unchanged; control bytes are a 400 before the app', async (t, stack) => {
  const app = await startApp(t, (req, res) => { res.end(Buffer.from(String(req.headers['x-v']), 'latin1')) })
  const { ports } = await startSidecar(t, app.port, {}, stack.argv)
  const ok = await rawRequest(ports.serving, Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-V: caf'), Buffer.from([0xe9]), Buffer.from('\r\nConnection: close\r\n\r\n')]))
  t.match(ok.split('\r\n')[0], /^HTTP\/1\.1 200/)
  t.equal(ok.split('\r\n\r\n')[1], 'caf\u00e9', 'obs-text byte forwarded as is')
  const bad = await rawRequest(ports.serving, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-V: a\x01b\r\nConnection: close\r\n\r\n'))
  t.match(bad, /^HTTP\/1\.1 400/)
})

test('request heads up to 64 KiB pass (a 40 KB cookie); a larger head is a 431, the app never sees it', async (t, stack) => {
  let seen = 0
  // The app itself must take large heads (node's default limit is 16 KiB).
  const app = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) => { seen++; res.end(String((req.headers.cookie ?? '').length)) })
  await new Promise<void>((resolve) => { app.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { app.closeAllConnections(); app.close() })
  const { ports } = await startSidecar(t, (app.address() as AddressInfo).port, {}, stack.argv)
  const cookie = 'c=' + 'x'.repeat(40_000)
  const ok = await rawRequest(ports.serving, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`))
  t.match(ok.split('\r\n')[0], /^HTTP\/1\.1 200/)
  t.equal(ok.split('\r\n\r\n')[1], String(cookie.length), 'the whole header reached the app')
  const big = await rawRequest(ports.serving, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${'y'.repeat(70_000)}\r\n\r\n`))
  t.match(big.split('\r\n')[0], /^HTTP\/1\.1 431 /)
  t.match(big, /connection: close/i)
  t.equal(seen, 1, 'only the first request reached the app')
})

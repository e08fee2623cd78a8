import { connect } from 'node:net'
import t from 'tap'
import { startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

function rawExchange (port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.write(request) })
    let d = ''
    s.on('data', (c: Buffer) => { d += c.toString('latin1') })
    s.on('error', () => {})
    s.on('close', () => { resolve(d) })
  })
}

const UPGRADE = 'GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'

test('an upgrade the user container refuses gets a 502 with the reason; the slot comes back', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const { ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) })
  const answer = await rawExchange(ports.serving, UPGRADE)
  t.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/)
  t.match(answer, /upstream connection failed: ECONNREFUSED/)
  await until(() => sidecar.breaker?.inFlight === 0 && sidecar.upgrades.open.size === 0, 2000, 'slot returned')
})

test('an upgrade gets the plain requests\' Host rewrite: K-Original-Host becomes Host and is not passed on', async (t, stack) => {
  const seen: Array<Record<string, string | string[] | undefined>> = []
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  app.server.on('upgrade', (req, socket) => {
    seen.push(req.headers)
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
  })
  const { ports } = await startSidecar(t, app.port, {}, stack.argv)
  const withOriginal = UPGRADE.replace('Host: x\r\n', 'Host: hello.default.svc.cluster.local\r\nK-Original-Host: hello.example.com\r\nKnative-Serving-Revision: hello-00001\r\n')
  t.match(await rawExchange(ports.serving, withOriginal), /^HTTP\/1\.1 101 /)
  t.match(await rawExchange(ports.serving, UPGRADE), /^HTTP\/1\.1 101 /)
  t.equal(seen.length, 2)
  t.equal(seen[0]?.host, 'hello.example.com', 'Host restored from K-Original-Host')
  t.equal(seen[0]?.['k-original-host'], undefined, 'K-Original-Host not passed to the app')
  t.equal(seen[0]?.['knative-serving-revision'], undefined)
  t.equal(seen[1]?.host, 'x', 'without K-Original-Host the Host is kept')
})

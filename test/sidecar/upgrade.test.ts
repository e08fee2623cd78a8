import { connect } from 'node:net'
import t from 'tap'
import { startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

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

t.test('an upgrade the user container refuses gets a 502 with the reason; the slot comes back', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const { ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' })
  await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) })
  const answer = await rawExchange(ports.serving, UPGRADE)
  t.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/)
  t.match(answer, /upstream connection failed: ECONNREFUSED/)
  await until(() => sidecar.breaker?.inFlight === 0 && sidecar.upgrades.open.size === 0, 2000, 'slot returned')
})

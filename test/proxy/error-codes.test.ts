// Every answer Sluice gives itself names its SLUICE_ERR_* code in `x-sluice-error` (issue 14 item
// 4): operators can tell the proxy's 503/504/502/404 from the app's, and grep the logs for it.
import { connect } from 'node:net'
import t from 'tap'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { createClient, route, send as sendThrough, spec, startActivator } from '../activator/fixtures.ts'

function raw (port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.write(bytes) })
    let d = ''
    s.on('data', (c: Buffer) => { d += c.toString('latin1') })
    s.on('error', () => {})
    s.on('close', () => { resolve(d) })
  })
}
const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'

t.test('sidecar: queue full, timeout, upstream failure, malformed body; the app\'s own answers carry none', async (t) => {
  const held: Array<() => void> = []
  const app = await startApp(t, (req, res) => {
    req.resume()
    if (req.url === '/app-503') { res.writeHead(503); res.end('from the app'); return }
    held.push(() => { res.end('ok') })
  })
  const clock = new ManualClock()
  const { url, ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '5' }, ['--queue-depth', '0'], { clock })
  const own = await send(`${url}/app-503`)
  t.equal(own.status, 503)
  t.equal(own.headers[ERROR_CODE_HEADER], undefined, 'the app\'s 503 is relayed as is')
  const first = send(`${url}/held`)
  await until(() => app.inFlight === 1, 2000, 'held at the app')
  const full = await send(`${url}/overflow`)
  t.equal(full.status, 503)
  t.equal(full.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueFull)
  t.match(await raw(ports.serving, UPGRADE), new RegExp(`^HTTP/1\\.1 503 [^]*\\r\\n${ERROR_CODE_HEADER}: ${ANSWER_CODES.queueFull}\\r\\n`), 'an upgrade refused by the queue too')
  clock.advance(5_000)
  const timedOut = await first
  t.equal(timedOut.status, 504)
  t.equal(timedOut.headers[ERROR_CODE_HEADER], ANSWER_CODES.timeout)
  await until(() => sidecar.breaker?.inFlight === 0, 2000, 'slot back')
  const malformed = await raw(ports.serving, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n')
  t.match(malformed, new RegExp(`^HTTP/1\\.1 400 [^]*\\r\\n${ERROR_CODE_HEADER}: SLUICE_ERR_SERVER_BODY_MALFORMED\\r\\n`))
  await new Promise<void>((resolve) => { app.server.closeAllConnections(); app.server.close(() => { resolve() }) })
  const down = await send(`${url}/down`)
  t.equal(down.status, 502)
  t.equal(down.headers[ERROR_CODE_HEADER], ANSWER_CODES.upstream)
})

t.test('activator: unknown revision, no endpoint in time, queue timeout', async (t) => {
  const { activator, url, ports } = await startActivator(t, ['--activation-timeout', '0.3', '--queue-timeout', '0.1'])
  activator.registry.upsert(spec('cold', [], 1))
  const client = createClient(t)
  const missing = await sendThrough(client, url, { headers: route('missing') })
  t.equal(missing.status, 404)
  t.equal(missing.headers[ERROR_CODE_HEADER], ANSWER_CODES.revisionNotFound)
  t.match(await raw(ports.serving, UPGRADE.replace('Host: x\r\n', 'Host: x\r\nKnative-Serving-Namespace: default\r\nKnative-Serving-Revision: missing\r\n')),
    new RegExp(`^HTTP/1\\.1 404 [^]*\\r\\n${ERROR_CODE_HEADER}: ${ANSWER_CODES.revisionNotFound}\\r\\n`))
  const shed = await sendThrough(client, url, { headers: route('cold') })
  t.equal(shed.status, 503)
  t.equal(shed.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueTimeout)
})

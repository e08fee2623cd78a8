import { connect } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { Sidecar } from '../../src/sidecar/sidecar-server.ts'
import { send, startApp, until } from '../helpers/sidecar-fixture.ts'

t.test('--request-log writes one JSON line per request with status, outcome and timings', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  const app = await startApp(t, (req, res) => { res.writeHead(req.url === '/missing' ? 404 : 200); res.end() })
  const loaded = loadSidecarConfig(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--request-log'], { USER_PORT: String(app.port) })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const sidecar = new Sidecar(loaded.config, [], pino({ level: 'info' }, sink))
  const ports = await sidecar.listen()
  t.teardown(() => sidecar.close())
  const url = `http://127.0.0.1:${ports.serving}`
  await send(`${url}/ok?x=1`)
  await send(`${url}/missing`)
  await send(url, { headers: { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' } })
  await until(() => lines.filter((l) => l.msg === 'request').length === 2, 2000, 'two request lines')
  const reqs = lines.filter((l) => l.msg === 'request')
  t.match(reqs[0], { method: 'GET', path: '/ok?x=1', status: 200, outcome: 'ok', component: 'request' })
  t.match(reqs[1], { path: '/missing', status: 404 })
  t.type(reqs[0]?.durationMs, 'number')
  t.equal(reqs.length, 2, 'probes are not request-logged')
})

t.test('--request-log names a request refused with a 4xx (a malformed body here) `rejected`, as the activator does', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() } })
  const app = await startApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end() }) })
  const loaded = loadSidecarConfig(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--request-log'], { USER_PORT: String(app.port) })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const sidecar = new Sidecar(loaded.config, [], pino({ level: 'info' }, sink))
  const ports = await sidecar.listen()
  t.teardown(() => sidecar.close())
  await new Promise<void>((resolve) => {
    const s = connect(ports.serving, '127.0.0.1', () => { s.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n') })
    s.on('data', () => {})
    s.on('error', () => {})
    s.on('close', () => { resolve() })
  })
  await until(() => lines.some((l) => l.msg === 'request'), 2000, 'the request line')
  t.match(lines.find((l) => l.msg === 'request'), { path: '/up', status: 400, outcome: 'rejected' })
})

import t from 'tap'
import { requestHost } from '../../src/proxy/request-host.ts'
import { inbound } from '../helpers/inbound-request.ts'
import { rawConnect } from '../helpers/raw-client.ts'
import { startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

// Issue 13, defect 2: one Host per request, and every part of Sluice reads the same one. Two Host
// fields (identical or not) or a Host byte Go's server refuses are a 400 before the app (RFC 9112
// 3.2; Go: "too many Host headers", "malformed Host header"); with an absolute-form target the
// target's authority is the host for the app, the request log and routing (RFC 9112 3.2.2; Go's
// r.Host), and the Host field is ignored.

test('two Host fields, or a malformed one, are a 400 and the app never sees the request', async (t, stack) => {
  const seen: string[] = []
  const app = await startApp(t, (req, res) => { seen.push(String(req.headers.host)); res.end('ok') })
  const { ports } = await startSidecar(t, app.port, {}, stack.argv)
  const cases: Array<[string, string]> = [
    ['different values', 'Host: a.example\r\nHost: b.example\r\n'],
    ['identical values', 'Host: a.example\r\nhost: a.example\r\n'],
    ['a space', 'Host: a b\r\n'],
    ['a slash', 'Host: a.example/x\r\n'],
    ['obs-text', 'Host: caf\xe9.example\r\n'],
  ]
  for (const [what, fields] of cases) {
    const client = await rawConnect(ports.serving)
    client.socket.write(Buffer.from(`GET / HTTP/1.1\r\n${fields}\r\n`, 'latin1'))
    await client.closed
    t.match(client.text(), /^HTTP\/1\.1 400 /, what)
    t.match(client.text(), /connection: close/i, `${what}: the connection closes`)
  }
  // The same connection setup serves a well-formed request, so the refusals were not the app's.
  const ok = await rawConnect(ports.serving)
  ok.socket.write('GET / HTTP/1.1\r\nHost: a.example:8080\r\nConnection: close\r\n\r\n')
  await ok.closed
  t.match(ok.text(), /^HTTP\/1\.1 200 /)
  t.same(seen, ['a.example:8080'], 'only the well-formed request reached the app')
})

test('absolute-form target: its authority is the Host for the app and the request log', async (t, stack) => {
  const seen: Array<{ host: string | undefined, url: string | undefined }> = []
  const app = await startApp(t, (req, res) => { seen.push({ host: req.headers.host, url: req.url }); res.end('ok') })
  const lines: string[] = []
  const o11y = JSON.stringify({ enableRequestLog: true, requestLogTemplate: '{{.Request.Host}}', requestMetrics: { protocol: 'none' }, tracing: {} })
  const { ports } = await startSidecar(t, app.port, { OBSERVABILITY_CONFIG: o11y }, stack.argv, { requestLogWriter: (l) => { lines.push(l) } })
  const client = await rawConnect(ports.serving)
  client.socket.write('GET http://a.example/x?y=1 HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n')
  await client.closed
  t.match(client.text(), /^HTTP\/1\.1 200 /)
  await until(() => lines.length === 1, 2000, 'one log line')
  t.equal(seen[0]?.host, 'a.example', 'the app gets the target\'s authority')
  t.equal(lines[0], 'a.example\n', 'the request log too')
})

t.test('requestHost: Go\'s r.Host (routing reads it)', async (t) => {
  t.equal(requestHost(inbound({ url: '/x', raw: ['Host', 'a.example'] })), 'a.example')
  t.equal(requestHost(inbound({ url: 'http://t.example/x', raw: ['Host', 'a.example'] })), 't.example', 'absolute-form: the target\'s authority')
  t.equal(requestHost(inbound({ url: 'https://u@t.example:8443', raw: ['Host', 'a.example'] })), 't.example:8443', 'userinfo is not the host')
  t.equal(requestHost(inbound({ url: '*', method: 'OPTIONS', raw: ['Host', 'a.example'] })), 'a.example')
  t.equal(requestHost(inbound({ url: '/x', raw: [':authority', 'h2.example', 'host', 'a.example'], version: [2, 0] })), 'h2.example', 'HTTP/2: :authority wins')
  t.equal(requestHost(inbound({ url: '/x', raw: ['host', 'a.example'], version: [2, 0] })), 'a.example', 'HTTP/2 without :authority')
  t.equal(requestHost(inbound({ url: '/x', raw: [] })), undefined)
})

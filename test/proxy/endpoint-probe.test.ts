import { createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { HttpEndpointProbe, PROBE_FAILED_MESHLIKE, PROBE_FAILED_NOT_MESH, PROBE_READY } from '../../src/proxy/endpoint-probe.ts'

// The activator's readiness probe of an endpoint (one connection per attempt, read with the
// proxy's response parser): what Knative's activator sends, and how each kind of answer is read
// (ready only for 200 + `queue`; 502/503 and no answer look like a mesh; anything else does not).

/** A raw server: `answer` is written once the request head is in (null: never answer); returns the port and the heads it got. */
async function rawServer (t: Test, answer: string | null): Promise<{ port: number, heads: string[] }> {
  const heads: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      heads.push(head)
      if (answer !== null) socket.end(answer)
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const addr = server.address()
  return { port: typeof addr === 'object' && addr !== null ? addr.port : 0, heads }
}

const CASES: ReadonlyArray<{ name: string, answer: string, verdict: number }> = [
  { name: '200 queue (a sidecar)', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nqueue', verdict: PROBE_READY },
  { name: '200 queue, chunked', answer: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nque\r\n2\r\nue\r\n0\r\n\r\n', verdict: PROBE_READY },
  { name: '200 queue, until close', answer: 'HTTP/1.1 200 OK\r\n\r\nqueue', verdict: PROBE_READY },
  { name: '200 with another body (a plain web server)', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', verdict: PROBE_FAILED_NOT_MESH },
  { name: '200 with a long body', answer: `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(1000)}`, verdict: PROBE_FAILED_NOT_MESH },
  { name: '503 (a draining sidecar, or a mesh)', answer: 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n', verdict: PROBE_FAILED_MESHLIKE },
  { name: '502', answer: 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad', verdict: PROBE_FAILED_MESHLIKE },
  { name: '404', answer: 'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found', verdict: PROBE_FAILED_NOT_MESH },
  { name: 'not HTTP', answer: 'SSH-2.0-OpenSSH_9.6\r\n', verdict: PROBE_FAILED_MESHLIKE },
  { name: 'closed before a whole body', answer: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nqu', verdict: PROBE_FAILED_MESHLIKE },
]

t.test('each kind of answer gets its verdict', async (t) => {
  for (const c of CASES) {
    const { port } = await rawServer(t, c.answer)
    t.equal(await new HttpEndpointProbe().probeVerdict(`127.0.0.1:${port}`, 2000), c.verdict, c.name)
  }
})

t.test('sends Knative\'s probe request: GET /healthz, K-Network-Probe: queue, its user agent, Host = the endpoint', async (t) => {
  const { port, heads } = await rawServer(t, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nqueue')
  t.equal(await new HttpEndpointProbe().probe(`127.0.0.1:${port}`, 2000), true)
  const head = heads[0] ?? ''
  t.match(head, /^GET \/healthz HTTP\/1\.1\r\n/)
  t.match(head, /\r\nK-Network-Probe: queue\r\n/i)
  t.match(head, /\r\nUser-Agent: Knative-Activator-Probe\r\n/i)
  t.match(head, new RegExp(`\\r\\nHost: 127\\.0\\.0\\.1:${port}\\r\\n`, 'i'))
})

t.test('refused, or no answer within the timeout: mesh-like, and the listener is told why', async (t) => {
  const { port: silent } = await rawServer(t, null)
  const refused = await rawServer(t, '')
  const errors: string[] = []
  const probe = new HttpEndpointProbe({ onError: { onProbeError: (dest, err) => { errors.push(`${dest} ${err.message}`) } } })
  // The port of a closed server: nothing listens.
  const closed = createServer()
  await new Promise<void>((resolve) => { closed.listen(0, '127.0.0.1', resolve) })
  const addr = closed.address()
  const closedPort = typeof addr === 'object' && addr !== null ? addr.port : 0
  await new Promise<void>((resolve) => { closed.close(() => { resolve() }) })
  t.equal(await probe.probeVerdict(`127.0.0.1:${closedPort}`, 2000), PROBE_FAILED_MESHLIKE, 'refused')
  t.equal(await probe.probeVerdict(`127.0.0.1:${silent}`, 50), PROBE_FAILED_MESHLIKE, 'no answer')
  t.equal(await probe.probeVerdict(`127.0.0.1:${refused.port}`, 2000), PROBE_FAILED_MESHLIKE, 'closed without an answer')
  t.equal(errors.length, 3, 'each failure reported')
  t.match(errors[0], /ECONNREFUSED/)
  t.match(errors[1], /timed out/)
})

t.test('an IPv6 endpoint is dialed without its brackets', async (t) => {
  const server = createServer((s) => { s.on('data', () => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nqueue') }) })
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => { resolve(false) })
    server.listen(0, '::1', () => { resolve(true) })
  })
  if (!ok) { t.pass('no ::1 here'); return }
  t.teardown(() => { server.close() })
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  t.equal(await new HttpEndpointProbe().probeVerdict(`[::1]:${port}`, 2000), PROBE_READY)
})

import { connect, constants, createServer, type Http2Server } from 'node:http2'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { send, startApp, startSidecar } from '../helpers/sidecar-fixture.ts'

// A gRPC-shaped h2c app: answers with a body and the status in trailers, and reports what it saw.
async function startH2App (t: { teardown (fn: () => unknown): void }): Promise<{ server: Http2Server; port: number; seen: Array<Record<string, unknown>> }> {
  const seen: Array<Record<string, unknown>> = []
  const server = createServer()
  server.on('stream', (stream, headers) => {
    seen.push({ ...headers })
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }) })
      stream.end(Buffer.concat([Buffer.from('echo:'), ...chunks]))
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  return { server, port: (server.address() as AddressInfo).port, seen }
}

function h2Call (url: string, path: string, body: string): Promise<{ status: number; body: string; trailers: Record<string, unknown>; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = connect(url)
    session.on('error', reject)
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' })
    let status = 0
    let headers: Record<string, unknown> = {}
    let trailers: Record<string, unknown> = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => { status = Number(h[':status']); headers = { ...h } })
    stream.on('trailers', (tr) => { trailers = { ...tr } })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => { session.close(); resolve({ status, body: Buffer.concat(chunks).toString(), trailers, headers }) })
    stream.on('error', reject)
    stream.end(body)
  })
}

t.test('h2c in, h2c out: a gRPC-style call keeps its trailers and te: trailers', async (t) => {
  const app = await startH2App(t)
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2' })
  const r = await h2Call(url, '/pkg.Svc/Method', 'ping')
  t.equal(r.status, 200)
  t.equal(r.body, 'echo:ping')
  t.equal(r.headers['content-type'], 'application/grpc')
  t.equal(r.trailers['grpc-status'], '0', 'grpc-status trailer forwarded')
  t.equal(r.trailers['grpc-message'], 'ok')
  t.equal(app.seen[0]?.te, 'trailers')
  t.equal(app.seen[0]?.[':path'], '/pkg.Svc/Method')
  t.equal(sidecar.breaker?.inFlight, 0)
})

t.test('--upstream-protocol h2c sends HTTP/1.1 clients to an h2c app', async (t) => {
  const app = await startH2App(t)
  const { url } = await startSidecar(t, app.port, {}, ['--upstream-protocol', 'h2c'])
  const r = await send(`${url}/x`, { method: 'POST', body: 'hi' })
  t.equal(r.status, 200)
  t.equal(r.body, 'echo:hi')
})

t.test('HTTP/1.1 and h2c clients share the serving port', async (t) => {
  const app = await startApp(t, (req, res) => { res.end(`v${req.httpVersion}`) })
  const { url } = await startSidecar(t, app.port, {}, ['--upstream-protocol', 'http1'])
  t.equal((await send(url)).body, 'v1.1')
  const r = await h2Call(url, '/', '')
  t.equal(r.status, 200)
  t.equal(r.body, 'v1.1', 'h2c client proxied to an HTTP/1.1 app')
  t.ok(constants.HTTP2_HEADER_STATUS)
})

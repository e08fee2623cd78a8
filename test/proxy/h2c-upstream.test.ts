// H2cUpstream (HTTP/2 prior knowledge to the user container, for gRPC) on its own: a real node:http2
// h2c server on loopback, undici-style handlers (Collector) as ProxyExchange would be.
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { H2cUpstream } from '../../src/proxy/h2c-upstream.ts'
import { streamFailure, toResponseHeaders } from '../../src/proxy/h2c-upstream-request.ts'
import { UpstreamConnectionError } from '../../src/shared/errors.ts'
import { Collector, type Teardown } from './h1-fixtures.ts'

async function h2App (t: Teardown, onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<{ server: Http2Server, origin: string, sessions: number }> {
  const server = createH2Server()
  const app = { server, origin: '', sessions: 0 }
  server.on('session', () => { app.sessions++ })
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => {}) // a stream the test resets or cancels
    onStream(stream, headers)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  app.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return app
}

function upstream (t: Teardown, origin: string): H2cUpstream {
  const up = new H2cUpstream(origin)
  t.teardown(() => up.close())
  return up
}

async function send (up: H2cUpstream, options: { method?: string, path?: string, headers?: string[], body?: Readable | string | null }): Promise<Collector> {
  const c = new Collector()
  up.dispatch({ method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers ?? [], body: options.body ?? null }, c)
  await c.done
  return c
}

t.test('a gRPC-style exchange: headers, body, trailers; pseudo-headers and hop-by-hop fields handled', async (t) => {
  let seen: IncomingHttpHeaders = {}
  const app = await h2App(t, (stream, headers) => {
    seen = headers
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }) })
    stream.end('payload')
  })
  const up = upstream(t, app.origin)
  const c = await send(up, {
    method: 'POST',
    path: '/pkg.Svc/Call',
    headers: ['Host', 'svc.example', 'TE', 'trailers', 'Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'X-A', '1', 'x-a', '2'],
    body: 'req',
  })
  t.equal(c.status, 200)
  t.equal(c.headers?.['content-type'], 'application/grpc')
  t.equal(c.headers?.[':status'], undefined, 'no pseudo-headers in the response headers')
  t.equal(c.body, 'payload')
  t.same(c.trailers, { 'grpc-status': '0', 'grpc-message': 'ok' })
  t.equal(seen[':authority'], 'svc.example', 'Host becomes :authority')
  t.equal(seen[':method'], 'POST')
  t.equal(seen[':path'], '/pkg.Svc/Call')
  t.equal(seen.te, 'trailers')
  t.equal(seen.connection, undefined)
  t.equal(seen['transfer-encoding'], undefined)
  t.equal(seen['x-a'], '1, 2', 'repeated fields both sent')
})

t.test('TE other than trailers is not sent; without Host the origin is the authority', async (t) => {
  let seen: IncomingHttpHeaders = {}
  const app = await h2App(t, (stream, headers) => { seen = headers; stream.respond({ ':status': 204 }); stream.end() })
  const up = upstream(t, app.origin)
  const c = await send(up, { headers: ['te', 'gzip'] })
  t.equal(c.status, 204)
  t.equal(seen.te, undefined)
  t.equal(seen[':authority'], new URL(app.origin).host)
})

t.test('a streamed request body is piped once the stream is open', async (t) => {
  const app = await h2App(t, (stream) => {
    let body = ''
    stream.on('data', (c: Buffer) => { body += c })
    stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end(`got ${body}`) })
  })
  const up = upstream(t, app.origin)
  const c = await send(up, { method: 'POST', body: Readable.from(['a', 'b', 'c']) })
  t.equal(c.body, 'got abc')
})

t.test('requests share one session', async (t) => {
  const app = await h2App(t, (stream) => { stream.respond({ ':status': 200 }); stream.end('x') })
  const up = upstream(t, app.origin)
  await Promise.all([send(up, {}), send(up, {}), send(up, {})])
  await send(up, {})
  t.equal(app.sessions, 1)
})

t.test('a refused connection fails the request with the connect error\'s code (replayable), body unread', async (t) => {
  const app = await h2App(t, () => {})
  const origin = app.origin
  await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) })
  const up = upstream(t, origin)
  let read = false
  const body = new Readable({ read () { read = true; this.push(null) } })
  const c = await send(up, { method: 'POST', body })
  t.equal(c.error?.code, 'ECONNREFUSED')
  t.equal(read, false, 'the body was not consumed, so the exchange may replay it elsewhere')
})

t.test('the upstream resetting the stream before a response is an error, not an end', async (t) => {
  const app = await h2App(t, (stream) => { stream.close(2 /* INTERNAL_ERROR */) })
  const up = upstream(t, app.origin)
  const c = await send(up, {})
  t.not(c.error, null)
  t.equal(c.status, 0)
})

t.test('abort cancels the stream; the handler hears no more', async (t) => {
  let closed: () => void = () => {}
  const streamClosed = new Promise<void>((resolve) => { closed = resolve })
  const app = await h2App(t, (stream) => {
    stream.on('close', () => { closed() })
    stream.respond({ ':status': 200 })
    stream.write('first')
  })
  const up = upstream(t, app.origin)
  const c = new Collector()
  c.onChunk = (controller) => { controller.abort(new Error('client gone')) }
  up.dispatch({ method: 'GET', path: '/', headers: [], body: null }, c)
  await c.done
  await streamClosed
  t.equal(c.body, 'first')
  t.equal(c.controller?.aborted, true)
  t.equal(c.lateCalls, 0)
})

t.test('after close, dispatch fails at once with UND_ERR_CLOSED', async (t) => {
  const app = await h2App(t, (stream) => { stream.respond({ ':status': 200 }); stream.end() })
  const up = new H2cUpstream(app.origin)
  await send(up, {})
  await up.close()
  const c = new Collector()
  t.equal(up.dispatch({ method: 'GET', path: '/', headers: [], body: null }, c), false)
  t.equal(c.error?.code, 'UND_ERR_CLOSED')
  await up.close()
})

t.test('streamFailure: the session\'s cause for a stream that never opened; refused streams are replayable', async (t) => {
  const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
  const cancel = Object.assign(new Error('cancelled', { cause }), { code: 'ERR_HTTP2_STREAM_CANCEL' })
  t.equal(streamFailure(cancel, undefined), cause)
  const refused = streamFailure(Object.assign(new Error('rst'), { code: 'ERR_HTTP2_STREAM_ERROR' }), 7)
  t.ok(refused instanceof UpstreamConnectionError)
  t.equal((refused as UpstreamConnectionError).code, 'UND_ERR_SOCKET')
  t.equal(streamFailure(Object.assign(new Error('goaway'), { code: 'ERR_HTTP2_GOAWAY_SESSION' }), undefined).constructor, UpstreamConnectionError)
  const other = Object.assign(new Error('rst'), { code: 'ERR_HTTP2_STREAM_ERROR' })
  t.equal(streamFailure(other, 2), other, 'INTERNAL_ERROR stays what it was')
  t.same(toResponseHeaders({ ':status': '200', a: '1', b: ['x', 'y'] }), { a: '1', b: ['x', 'y'] })
})

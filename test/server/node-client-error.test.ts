// The node:http fallback's 'clientError' answers (`--http-server node`), as H1Server and Go answer:
// 431 for a head over the limit, 400 "malformed request body: invalid chunk size" for a bad chunk,
// 400 otherwise. A real node:http server with the listener, raw clients.
import { createServer } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { onNodeClientError } from '../../src/server/node-client-error.ts'
import { listen } from '../proxy/h1-fixtures.ts'

async function startServer (t: { teardown (fn: () => void): void }): Promise<number> {
  const server = createServer({ maxHeaderSize: 1024 }, (req, res) => {
    req.on('data', () => {})
    req.on('end', () => { res.end('ok') })
    req.on('error', () => {})
  })
  server.on('clientError', onNodeClientError)
  return await listen(t, server)
}

async function raw (port: number, bytes: string): Promise<string> {
  return await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1')
    let data = ''
    s.on('data', (c: Buffer) => { data += c })
    s.on('error', () => {})
    s.on('close', () => { resolve(data) })
    s.write(bytes)
  })
}

t.test('a head over the limit: 431', async (t) => {
  const port = await startServer(t)
  const out = await raw(port, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2048)}\r\n\r\n`)
  t.match(out, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
  t.match(out, /\r\n\r\nrequest head too large\n$/)
})

t.test('a bad chunk size in a body: 400 naming it', async (t) => {
  const port = await startServer(t)
  const out = await raw(port, 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
  t.match(out, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(out, /\r\n\r\nmalformed request body: invalid chunk size\n$/)
})

t.test('anything else llhttp refuses: 400 bad request, and the connection closes', async (t) => {
  const port = await startServer(t)
  const out = await raw(port, 'GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n')
  t.match(out, /^HTTP\/1\.1 400 Bad Request\r\nconnection: close\r\n/)
  t.match(out, /\r\n\r\nbad request\n$/)
})

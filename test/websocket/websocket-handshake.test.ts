import t from 'tap'
import { acceptValueOf, HANDSHAKE_FAILED, HANDSHAKE_MORE, HandshakeResponseReader, handshakeRequestOf, webSocketTargetOf } from '../../src/websocket/websocket-handshake.ts'

t.test('the accept value of RFC 6455 1.3\'s example', async (t) => {
  t.equal(acceptValueOf('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
})

t.test('targets from URLs: default ports, Host header, IPv6, path and query', async (t) => {
  const table: ReadonlyArray<[string, ReturnType<typeof webSocketTargetOf>]> = [
    ['ws://autoscaler.knative-serving.svc.cluster.local:8080', { isSecure: false, host: 'autoscaler.knative-serving.svc.cluster.local', port: 8080, hostHeader: 'autoscaler.knative-serving.svc.cluster.local:8080', resource: '/' }],
    ['ws://h/', { isSecure: false, host: 'h', port: 80, hostHeader: 'h', resource: '/' }],
    ['ws://h:80/x', { isSecure: false, host: 'h', port: 80, hostHeader: 'h', resource: '/x' }],
    ['wss://h/a?b=c', { isSecure: true, host: 'h', port: 443, hostHeader: 'h', resource: '/a?b=c' }],
    ['wss://h:8443', { isSecure: true, host: 'h', port: 8443, hostHeader: 'h:8443', resource: '/' }],
    ['ws://[::1]:9/', { isSecure: false, host: '::1', port: 9, hostHeader: '[::1]:9', resource: '/' }],
  ]
  for (const [url, target] of table) t.same(webSocketTargetOf(url), target, url)
  t.equal(handshakeRequestOf(webSocketTargetOf('ws://h:1/p?q'), 'KEY'),
    'GET /p?q HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\n\r\n')
})

t.test('a valid 101 split across reads, any field-name case, Connection as a list; frames after it', async (t) => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ=='
  const head = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\nsec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\nServer: x\r\n\r\n'
  for (const split of [1, 10, head.length - 1]) {
    const reader = new HandshakeResponseReader(key)
    t.equal(reader.read(Buffer.from(head.slice(0, split), 'latin1')), HANDSHAKE_MORE, `more after ${split} bytes`)
    const rest = Buffer.from(head.slice(split) + '\x81\x00', 'latin1')
    t.equal(reader.read(rest), rest.length - 2, 'the index just past the head')
    t.equal(reader.error, null)
  }
  const wrong = new HandshakeResponseReader('AAAAAAAAAAAAAAAAAAAAAA==')
  t.equal(wrong.read(Buffer.from(head, 'latin1')), HANDSHAKE_FAILED)
  t.equal(wrong.error?.code, 'SLUICE_ERR_WEBSOCKET_HANDSHAKE')
  t.equal(wrong.error?.responseStatus, 101)
  const bareLf = new HandshakeResponseReader(key)
  t.equal(bareLf.read(Buffer.from(head.replace('Server: x\r\n', 'Server: x\n'), 'latin1')), HANDSHAKE_FAILED)
  t.match(bareLf.error?.message, /bare LF/)
})

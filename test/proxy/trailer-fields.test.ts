// Which response trailers are relayed (RFC 9110 6.5.1; Go's httpguts badTrailer plus what the RFC
// names beyond it). gRPC's grpc-status/grpc-message must pass untouched and uncopied.
import t from 'tap'
import { isForbiddenTrailer, relayableTrailers } from '../../src/proxy/trailer-fields.ts'

t.test('framing, routing, authentication, response controls and content fields are forbidden', async (t) => {
  const forbidden = ['transfer-encoding', 'content-length', 'trailer', 'te', 'connection', 'keep-alive', 'proxy-connection',
    'upgrade', 'host', 'expect', 'max-forwards', 'range', 'cache-control', 'pragma', 'authorization', 'proxy-authorization',
    'www-authenticate', 'proxy-authenticate', 'realm', 'set-cookie', 'cookie', 'age', 'date', 'expires', 'location',
    'retry-after', 'vary', 'content-type', 'content-encoding', 'content-md5', 'if-match', 'if-none-match', 'if-modified-since']
  for (const name of forbidden) t.ok(isForbiddenTrailer(name), name)
  for (const name of ['grpc-status', 'grpc-message', 'x-checksum', 'server-timing', 'etag', 'digest', 'x-content']) {
    t.notOk(isForbiddenTrailer(name), `${name} may be relayed`)
  }
})

t.test('all relayable: the same object comes back (no copy on the gRPC path)', async (t) => {
  const trailers = { 'grpc-status': '0', 'grpc-message': '' }
  t.equal(relayableTrailers(trailers), trailers)
})

t.test('some forbidden: a copy without them, other values as they were (arrays too)', async (t) => {
  const trailers = { 'X-Sum': 'abc', 'Set-Cookie': ['a=1', 'b=2'], 'Content-Type': 'text/plain', 'x-list': ['1', '2'] }
  const out = relayableTrailers(trailers)
  t.same(out, { 'X-Sum': 'abc', 'x-list': ['1', '2'] }, 'names compared without case')
  t.not(out, trailers)
  t.same(Object.keys(trailers).length, 4, 'the input is left alone')
})

t.test('all forbidden, or none at all: null (nothing to add)', async (t) => {
  t.equal(relayableTrailers({ 'content-length': '3', Date: 'x' }), null)
  t.equal(relayableTrailers({}), null)
})

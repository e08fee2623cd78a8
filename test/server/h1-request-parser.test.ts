import type { IncomingHttpHeaders } from 'node:http'
import t from 'tap'
import {
  H1RequestParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, PARSE_STOPPED, type RequestSink,
} from '../../src/server/h1-request-parser.ts'

// The request parser alone, fed by hand: request-line forms, header rules, body framing, every
// split point, pipelined messages and every refusal with the status it is answered with.

interface Head {
  method: string
  url: string
  httpMinor: number
  rawHeaders: string[]
  headers: IncomingHttpHeaders
  keepAlive: boolean
  contentLength: number
  isChunked: boolean
  expectContinue: boolean
  isConnectionUpgrade: boolean
  hasUpgrade: boolean
  /** The head's bytes as the parser kept them (headBytes()). */
  headBytes: string
}

class Recorder implements RequestSink {
  heads: Head[] = []
  chunks: Buffer[] = []
  stopAtHead = false
  onParsedRequestHead (p: H1RequestParser): boolean {
    this.heads.push({
      method: p.method,
      url: p.url,
      httpMinor: p.httpMinor,
      rawHeaders: p.rawHeaders,
      headers: p.headers,
      keepAlive: p.keepAlive,
      contentLength: p.contentLength,
      isChunked: p.isChunked,
      expectContinue: p.expectContinue,
      isConnectionUpgrade: p.isConnectionUpgrade,
      hasUpgrade: p.hasUpgrade,
      headBytes: p.headBytes().toString('latin1'),
    })
    return !this.stopAtHead
  }

  onParsedRequestBody (chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk))
    return true
  }

  get body (): string { return Buffer.concat(this.chunks).toString('latin1') }
}

interface Outcome {
  result: number
  head: Head | null
  body: string
  trailers: string[]
  consumed: number
  /** Every PARSE_MORE reported the whole piece consumed (H1ServerConnection relies on it). */
  consumedAllOnMore: boolean
  status: number
  error: string
  hasStarted: boolean
}

const PAD = Buffer.from('<<PAD>>')

/**
 * Feeds `wire` cut at `cuts`. Each piece sits in a larger buffer with garbage before and after it,
 * so the parser must honour both `off` and `len`.
 */
function parse (wire: string, opts: { cuts?: number[], maxHeadBytes?: number } = {}): Outcome {
  const sink = new Recorder()
  const parser = new H1RequestParser(sink, opts.maxHeadBytes ?? 16 * 1024)
  const bytes = Buffer.from(wire, 'latin1')
  const cuts = [0, ...(opts.cuts ?? []), bytes.length]
  let result = PARSE_MORE
  let consumedAllOnMore = true
  let consumed = -1
  for (let i = 0; i + 1 < cuts.length && result === PARSE_MORE; i++) {
    const piece = bytes.subarray(cuts[i], cuts[i + 1])
    const region = Buffer.concat([PAD, piece, PAD])
    result = parser.execute(region, PAD.length, PAD.length + piece.length)
    if (result === PARSE_MORE && parser.consumed !== PAD.length + piece.length) consumedAllOnMore = false
    if (result === PARSE_DONE) consumed = (cuts[i] ?? 0) + parser.consumed - PAD.length
  }
  return {
    result,
    head: sink.heads[0] ?? null,
    body: sink.body,
    trailers: parser.rawTrailers,
    consumed,
    consumedAllOnMore,
    status: result === PARSE_ERROR ? parser.errorStatus : 0,
    error: result === PARSE_ERROR ? parser.errorMessage : '',
    hasStarted: parser.hasStarted,
  }
}

/** Parses every message in one buffer the way H1ServerConnection does (reset, go on from `consumed`). */
function parseAll (wire: string): { heads: Head[], bodies: string[], ends: number[], result: number } {
  const sink = new Recorder()
  const parser = new H1RequestParser(sink, 16 * 1024)
  const buf = Buffer.from(wire, 'latin1')
  const bodies: string[] = []
  const ends: number[] = []
  let off = 0
  let result = PARSE_MORE
  while (off < buf.length) {
    result = parser.execute(buf, off, buf.length)
    if (result !== PARSE_DONE) break
    off = parser.consumed
    ends.push(off)
    bodies.push(sink.body)
    sink.chunks = []
    parser.reset()
  }
  return { heads: sink.heads, bodies, ends, result }
}

function head (o: Outcome): Head {
  if (o.head === null) throw new Error('no head parsed')
  return o.head
}

const CHUNKED = 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '5;name=value\r\nhello\r\n1\r\n \r\n5;x="y";z\r\nworld\r\n0\r\nX-Checksum: abc\r\nX-Other:  two words \r\n\r\n'

t.test('a simple GET: request line, fields, keep-alive', async (t) => {
  const wire = 'GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n'
  const o = parse(wire)
  t.equal(o.result, PARSE_DONE)
  const h = head(o)
  t.equal(h.method, 'GET')
  t.equal(h.url, '/path?q=1')
  t.equal(h.httpMinor, 1)
  t.same(h.rawHeaders, ['Host', 'example.com', 'Accept', '*/*'])
  t.same(h.headers, { host: 'example.com', accept: '*/*' })
  t.equal(h.keepAlive, true)
  t.equal(h.contentLength, -1)
  t.equal(o.body, '')
  t.equal(o.consumed, wire.length)
  t.equal(h.headBytes, wire, 'the head bytes are kept for a hand-off')
})

t.test('methods: known ones and any other token, as sent', async (t) => {
  for (const m of ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PURGE', 'M-SEARCH', 'PROPFIND', 'get', 'X!#$%&\'*+.^_`|~1']) {
    const o = parse(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`)
    t.equal(o.result, PARSE_DONE, m)
    t.equal(head(o).method, m, `${m} kept as sent`)
  }
})

t.test('request targets: origin-form, absolute-form, authority-form, asterisk', async (t) => {
  const targets: Array<[string, string]> = [
    ['GET', '/'],
    ['GET', '/a/b?c=d&e=%20f'],
    ['GET', 'http://example.com:8080/x?y'],
    ['CONNECT', 'example.com:443'],
    ['OPTIONS', '*'],
    ['GET', '/caf\xe9'],
  ]
  for (const [method, target] of targets) {
    const o = parse(`${method} ${target} HTTP/1.1\r\nHost: a\r\n\r\n`)
    t.equal(o.result, PARSE_DONE, target)
    t.equal(head(o).url, target)
    t.equal(head(o).method, method)
  }
})

t.test('connection reuse: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['HTTP/1.1', true],
    ['HTTP/1.1\r\nConnection: close', false],
    ['HTTP/1.1\r\nConnection: CLOSE', false],
    ['HTTP/1.1\r\nConnection: Keep-Alive, Close', false],
    ['HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close', false],
    ['HTTP/1.1\r\nConnection: foo, bar', true],
    ['HTTP/1.0', false],
    ['HTTP/1.0\r\nConnection: keep-alive', true],
    ['HTTP/1.0\r\nConnection: Keep-Alive', true],
    ['HTTP/1.0\r\nConnection: te, keep-alive', true],
    ['HTTP/1.0\r\nConnection: keep-alive, close', false],
  ]
  for (const [rest, keepAlive] of cases) {
    const o = parse(`GET / ${rest}\r\nHost: a\r\n\r\n`)
    t.equal(o.result, PARSE_DONE, rest)
    t.equal(head(o).keepAlive, keepAlive, JSON.stringify(rest))
    t.equal(head(o).httpMinor, rest.startsWith('HTTP/1.0') ? 0 : 1)
  }
})

t.test('upgrade and expect are noted', async (t) => {
  const up = head(parse('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n'))
  t.equal(up.isConnectionUpgrade, true)
  t.equal(up.hasUpgrade, true)
  const plain = head(parse('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n'))
  t.equal(plain.isConnectionUpgrade, false, 'Upgrade without Connection: upgrade is not an upgrade')
  const expect = parse('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n')
  t.equal(expect.result, PARSE_MORE, 'waits for the body')
  t.equal(head(expect).expectContinue, true)
  t.equal(head(parse('GET / HTTP/1.1\r\nExpect: something-else\r\n\r\n')).expectContinue, false)
})

t.test('rawHeaders keep case and order; headers follow node:http join rules', async (t) => {
  const wire = 'GET / HTTP/1.1\r\n' +
    'Host: first.example\r\n' +
    'X-Custom: one\r\n' +
    'Content-Type: text/plain\r\n' +
    'content-type: text/html\r\n' +
    'User-Agent: ua1\r\n' +
    'User-Agent: ua2\r\n' +
    'Authorization: Bearer a\r\n' +
    'Authorization: Bearer b\r\n' +
    'Referer: r1\r\n' +
    'Referer: r2\r\n' +
    'Set-Cookie: a=1\r\n' +
    'SET-COOKIE: b=2\r\n' +
    'Cookie: c=3\r\n' +
    'cookie: d=4\r\n' +
    'x-custom: two\r\n' +
    'Accept: text/html\r\n' +
    'ACCEPT: */*\r\n' +
    'X-Empty:\r\n' +
    'X-Spaces: \t padded \t \r\n' +
    'X-Obs: caf\xe9\r\n' +
    '\r\n'
  const o = parse(wire)
  t.equal(o.result, PARSE_DONE)
  const h = head(o)
  t.same(h.rawHeaders, [
    'Host', 'first.example', 'X-Custom', 'one', 'Content-Type', 'text/plain',
    'content-type', 'text/html', 'User-Agent', 'ua1', 'User-Agent', 'ua2', 'Authorization', 'Bearer a',
    'Authorization', 'Bearer b', 'Referer', 'r1', 'Referer', 'r2', 'Set-Cookie', 'a=1', 'SET-COOKIE', 'b=2',
    'Cookie', 'c=3', 'cookie', 'd=4', 'x-custom', 'two', 'Accept', 'text/html', 'ACCEPT', '*/*',
    'X-Empty', '', 'X-Spaces', 'padded', 'X-Obs', 'caf\xe9',
  ])
  t.strictSame(h.headers, {
    host: 'first.example',
    'x-custom': 'one, two',
    'content-type': 'text/plain',
    'user-agent': 'ua1',
    authorization: 'Bearer a',
    referer: 'r1',
    'set-cookie': ['a=1', 'b=2'],
    cookie: 'c=3; d=4',
    accept: 'text/html, */*',
    'x-empty': '',
    'x-spaces': 'padded',
    'x-obs': 'caf\xe9',
  })
})

t.test('every single-value field of node:http keeps its first value', async (t) => {
  // (Host is the exception: a second Host field is refused, see 'malformed requests'.)
  const names = ['content-type', 'user-agent', 'referer', 'authorization', 'proxy-authorization',
    'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
    'last-modified', 'server', 'age', 'expires']
  for (const name of names) {
    const o = parse(`GET / HTTP/1.1\r\n${name.toUpperCase()}: 1\r\n${name}: 2\r\n\r\n`)
    t.equal(o.result, PARSE_DONE, name)
    t.equal(head(o).headers[name], '1', name)
  }
  const sc = head(parse('GET / HTTP/1.1\r\nSet-Cookie: only\r\n\r\n'))
  t.strictSame(sc.headers['set-cookie'], ['only'], 'set-cookie is a list even alone')
  const cl = head(parse('POST / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n'))
  t.equal(cl.headers['content-length'], '0', 'repeated equal content-length: one value')
})

t.test('content-length body: delivered as views of the input, consumed exactly', async (t) => {
  const wire = 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world'
  const o = parse(wire)
  t.equal(o.result, PARSE_DONE)
  t.equal(head(o).contentLength, 11)
  t.equal(o.body, 'hello world')
  t.equal(o.consumed, wire.length)

  // Not copied: the sink sees a slice of the buffer it was handed.
  const buf = Buffer.from(wire + 'GET')
  const seen: Buffer[] = []
  const parser = new H1RequestParser({
    onParsedRequestHead: () => true,
    onParsedRequestBody: (c) => { seen.push(c); return true },
  }, 1024)
  t.equal(parser.execute(buf, 0, buf.length), PARSE_DONE)
  t.equal(parser.consumed, wire.length, 'the next message is not touched')
  t.equal(seen.length, 1)
  t.equal(seen[0]?.buffer, buf.buffer, 'a view of the input')

  const zero = parse('POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n')
  t.equal(zero.result, PARSE_DONE, 'Content-Length: 0 is complete at the head')
  t.equal(zero.body, '')
  const lead = parse('POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc')
  t.equal(lead.body, 'abc', 'leading zeros')
})

t.test('content-length body across pieces', async (t) => {
  const wire = 'PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789'
  for (let cut = 1; cut < wire.length; cut++) {
    const o = parse(wire, { cuts: [cut] })
    if (o.result !== PARSE_DONE || o.body !== '0123456789' || o.consumed !== wire.length) {
      t.fail(`split at ${cut}: ${o.result} ${JSON.stringify(o.body)}`)
      return
    }
  }
  const o = parse(wire, { cuts: [10, 36, 37, 40] })
  t.equal(o.body, '0123456789')
  t.equal(o.result, PARSE_DONE)
})

t.test('chunked body with extensions and trailers', async (t) => {
  const o = parse(CHUNKED)
  t.equal(o.result, PARSE_DONE)
  t.equal(head(o).isChunked, true)
  t.equal(o.body, 'hello world')
  t.same(o.trailers, ['X-Checksum', 'abc', 'X-Other', 'two words'])
  t.equal(o.consumed, CHUNKED.length)
  const lower = parse('POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')
  t.equal(lower.result, PARSE_DONE, 'the coding name in any case')
  t.equal(lower.body, 'abc')
  t.same(lower.trailers, [])
  const ext = parse('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a;b=c;d="e \\" f";g=\r\nabc\r\n0;last\r\n\r\n')
  t.equal(ext.body, 'abc', 'extensions: names, token and quoted values, an empty value (as llhttp)')
  const big = parse('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n00\r\n\r\n')
  t.equal(big.body, '0123456789', 'hex sizes, a zero-padded last chunk')
})

t.test('chunked body at every split point and one byte at a time', async (t) => {
  let bad = 0
  for (let cut = 1; cut < CHUNKED.length; cut++) {
    const o = parse(CHUNKED, { cuts: [cut] })
    if (o.result !== PARSE_DONE || o.body !== 'hello world' || o.trailers[1] !== 'abc' ||
        o.consumed !== CHUNKED.length || head(o).url !== '/upload' || !o.consumedAllOnMore) {
      bad++
      if (bad === 1) t.comment(`first bad split at ${cut}: result ${o.result} ${o.error}`)
    }
  }
  t.equal(bad, 0, 'every two-piece split parses the same')
  let badPairs = 0
  for (let a = 1; a < CHUNKED.length; a += 7) {
    for (let b = a + 1; b < CHUNKED.length; b += 5) {
      const o = parse(CHUNKED, { cuts: [a, b] })
      if (o.result !== PARSE_DONE || o.body !== 'hello world') badPairs++
    }
  }
  t.equal(badPairs, 0, 'three-piece splits parse the same')
  const bytewise = parse(CHUNKED, { cuts: Array.from({ length: CHUNKED.length - 1 }, (_, i) => i + 1) })
  t.equal(bytewise.result, PARSE_DONE, 'one byte at a time')
  t.equal(bytewise.body, 'hello world')
  t.same(bytewise.trailers, ['X-Checksum', 'abc', 'X-Other', 'two words'])
  t.equal(head(bytewise).headBytes, CHUNKED.slice(0, CHUNKED.indexOf('\r\n\r\n') + 4), 'a head from pieces is kept whole')
})

t.test('PARSE_MORE means the whole piece was taken (the connection drops what was consumed)', async (t) => {
  const split = parse('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { cuts: [18] })
  t.equal(split.result, PARSE_DONE)
  t.equal(split.consumedAllOnMore, true, 'a head kept pending reports its piece consumed')
  const crlf = parse('\r\n\r\nGET / HTTP/1.1\r\n\r\n', { cuts: [2, 4] })
  t.equal(crlf.result, PARSE_DONE)
  t.equal(crlf.consumedAllOnMore, true, 'skipped empty lines are consumed')
})

t.test('pipelined messages in one buffer: each ends where the next begins', async (t) => {
  const m1 = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n'
  const m2 = 'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'
  const m3 = 'POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n'
  const m4 = 'DELETE /4 HTTP/1.0\r\n\r\n'
  const r = parseAll(m1 + m2 + m3 + m4)
  t.equal(r.result, PARSE_DONE)
  t.same(r.heads.map((h) => `${h.method} ${h.url}`), ['GET /1', 'POST /2', 'POST /3', 'DELETE /4'])
  t.same(r.bodies, ['', 'abc', 'de', ''])
  t.same(r.ends, [m1.length, m1.length + m2.length, m1.length + m2.length + m3.length, m1.length + m2.length + m3.length + m4.length])
  t.equal(r.heads[3]?.keepAlive, false)
  t.equal(r.heads[2]?.headBytes, m3.slice(0, m3.indexOf('\r\n\r\n') + 4), 'head bytes of a later message')
})

t.test('reset clears the previous message (trailers, pending bytes)', async (t) => {
  const sink = new Recorder()
  const p = new H1RequestParser(sink, 1024)
  const a = Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n')
  t.equal(p.execute(a, 0, a.length), PARSE_DONE)
  t.same(p.rawTrailers, ['X', 'y'])
  t.equal(p.isDone, true)
  p.reset()
  t.same(p.rawTrailers, [])
  t.equal(p.isReadingHead, true)
  t.equal(p.hasStarted, false)
  const partial = Buffer.from('GET /half HTTP/1.1\r\nX-')
  t.equal(p.execute(partial, 0, partial.length), PARSE_MORE)
  p.reset()
  const b = Buffer.from('GET /b HTTP/1.1\r\n\r\n')
  t.equal(p.execute(b, 0, b.length), PARSE_DONE, 'the abandoned half head is gone')
  t.equal(sink.heads[1]?.url, '/b')
})

t.test('leading empty lines are skipped and do not start a message', async (t) => {
  const o = parse('\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal(o.result, PARSE_DONE)
  t.equal(head(o).url, '/')
  t.equal(head(o).headBytes, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  const only = parse('\r\n\r\n')
  t.equal(only.result, PARSE_MORE)
  t.equal(only.hasStarted, false, 'only empty lines: the connection is still idle')
  t.equal(only.consumedAllOnMore, true)
  const started = parse('\r\nG')
  t.equal(started.hasStarted, true)
  // After a message (an old client's CRLF after a POST body), the same applies.
  const r = parseAll('POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /2 HTTP/1.1\r\n\r\n')
  t.same(r.heads.map((h) => h.url), ['/', '/2'])
})

t.test('a sink that returns false stops after the head; the body follows on the next call', async (t) => {
  const sink = new Recorder()
  sink.stopAtHead = true
  const p = new H1RequestParser(sink, 1024)
  const wire = 'POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody'
  const buf = Buffer.from(wire)
  t.equal(p.execute(buf, 0, buf.length), PARSE_STOPPED)
  t.equal(p.consumed, wire.length - 4, 'stopped right after the head')
  t.equal(p.isReadingBody, true)
  t.equal(p.execute(buf, p.consumed, buf.length), PARSE_DONE)
  t.equal(sink.body, 'body')

  let bodies = 0
  const q = new H1RequestParser({ onParsedRequestHead: () => true, onParsedRequestBody: () => { bodies++; return false } }, 1024)
  const c = Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n')
  t.equal(q.execute(c, 0, c.length), PARSE_STOPPED)
  t.equal(bodies, 1, 'nothing delivered after the stop')
  t.equal(c.toString('latin1', q.consumed, q.consumed + 2), '\r\n', 'consumed ends after the chunk data')
})

t.test('chunk sizes up to 2^53-1 are accepted; larger overflow', async (t) => {
  const pre = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
  const max = parse(pre + '1fffffffffffff\r\nabc')
  t.equal(max.result, PARSE_MORE, 'Number.MAX_SAFE_INTEGER bytes would be fine')
  t.equal(max.body, 'abc')
  const over = parse(pre + '20000000000000\r\n')
  t.equal(over.result, PARSE_ERROR)
  t.equal(over.status, 400)
  t.match(over.error, /too large/)
  const zeros = parse(pre + '0000000000000000000000003\r\nabc\r\n0\r\n\r\n')
  t.equal(zeros.result, PARSE_DONE, 'leading zeros do not overflow')
})

t.test('malformed requests are refused with their status', async (t) => {
  const TE = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
  const cases: Array<[string, number, string]> = [
    // request line
    ['empty method', 400, ' / HTTP/1.1\r\n\r\n'],
    ['method not a token', 400, 'GE(T / HTTP/1.1\r\n\r\n'],
    ['tab after method', 400, 'GET\t/ HTTP/1.1\r\n\r\n'],
    ['two spaces after method', 400, 'GET  / HTTP/1.1\r\n\r\n'],
    ['no target', 400, 'GET HTTP/1.1\r\n\r\n'],
    ['control byte in target', 400, 'GET /a\x01b HTTP/1.1\r\n\r\n'],
    ['DEL in target', 400, 'GET /a\x7fb HTTP/1.1\r\n\r\n'],
    ['no version', 400, 'GET /\r\n\r\n'],
    ['extra word', 400, 'GET / HTTP/1.1 x\r\n\r\n'],
    ['lowercase version', 400, 'GET / http/1.1\r\n\r\n'],
    ['version without minor', 400, 'GET / HTTP/1\r\n\r\n'],
    ['two-digit minor', 400, 'GET / HTTP/1.10\r\n\r\n'],
    ['letter version', 400, 'GET / HTTP/1.x\r\n\r\n'],
    ['not http', 400, 'SSH-2.0-OpenSSH_9.2\r\n\r\n'],
    ['HTTP/2.0', 505, 'GET / HTTP/2.0\r\n\r\n'],
    ['HTTP/3.1', 505, 'GET / HTTP/3.1\r\n\r\n'],
    ['HTTP/0.9', 505, 'GET / HTTP/0.9\r\n\r\n'],
    ['bare CR in request line', 400, 'GET / HTTP/1.1\r\r\n\r\n'],
    // fields
    ['obs-fold', 400, 'GET / HTTP/1.1\r\nX-A: a\r\n  continued\r\n\r\n'],
    ['obs-fold with tab', 400, 'GET / HTTP/1.1\r\nX-A: a\r\n\tcontinued\r\n\r\n'],
    ['space before colon', 400, 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['tab before colon', 400, 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n'],
    ['no colon', 400, 'GET / HTTP/1.1\r\nX-A\r\n\r\n'],
    ['empty name', 400, 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
    ['bad name byte', 400, 'GET / HTTP/1.1\r\nX(A): a\r\n\r\n'],
    ['non-ascii name', 400, 'GET / HTTP/1.1\r\nX-\xe9: a\r\n\r\n'],
    ['bare CR in value', 400, 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n'],
    ['bare CR ending a value', 400, 'GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n'],
    ['CR-only line', 400, 'GET / HTTP/1.1\r\nX-A: a\r\n\r\r\n\r\n'],
    ['NUL in value', 400, 'GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n'],
    ['control byte in value', 400, 'GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n'],
    ['DEL in value', 400, 'GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n'],
    // framing
    ['negative content-length', 400, 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n'],
    ['signed content-length', 400, 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n'],
    ['empty content-length', 400, 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n'],
    ['hex content-length', 400, 'POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n'],
    ['content-length list', 400, 'POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n'],
    ['content-length too long', 400, 'POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n'],
    ['conflicting content-length', 400, 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['repeated content-length written differently (Go compares the text)', 400, 'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n'],
    ['content-length and transfer-encoding', 400, 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['transfer-encoding and content-length', 400, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'],
    // Transfer-Encoding: one field, exactly `chunked`, else 501 (Go's server, nginx).
    ['transfer-encoding not ending in chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
    ['transfer-encoding gzip', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['a coding before chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    ['second transfer-encoding not chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['two transfer-encoding fields', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['chunked twice', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'],
    ['xchunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n'],
    ['chunked + NBSP (0xA0: not OWS)', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\xa0\r\n\r\n'],
    ['NBSP + chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: \xa0chunked\r\n\r\n'],
    ['quoted chunked', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: "chunked"\r\n\r\n'],
    ['chunked with a parameter', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n'],
    ['chunked + HTAB (llhttp refuses it)', 501, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n'],
    ['VT + chunked', 400, 'POST / HTTP/1.1\r\nTransfer-Encoding: \x0bchunked\r\n\r\n'],
    ['space before the colon of transfer-encoding', 400, 'POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n'],
    // Host (RFC 9112 3.2; Go's "too many Host headers", "malformed Host header")
    ['two different Host fields', 400, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['two identical Host fields', 400, 'GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n'],
    ['a space in Host', 400, 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['a slash in Host', 400, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'],
    ['obs-text in Host', 400, 'GET / HTTP/1.1\r\nHost: caf\xe9\r\n\r\n'],
    // line ends: CRLF only (llhttp)
    ['bare LF after the request line', 400, 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
    ['bare LF after a field', 400, 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'],
    ['bare LF ending the head', 400, 'GET / HTTP/1.1\r\nHost: a\r\n\n'],
    ['bare LF everywhere', 400, 'GET / HTTP/1.1\nHost: a\n\n'],
    ['transfer-encoding in HTTP/1.0', 400, 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'],
    // chunks
    ['bad chunk size', 400, TE + 'zz\r\n'],
    ['empty chunk size', 400, TE + '\r\n'],
    ['chunk size with a sign', 400, TE + '-1\r\n'],
    ['chunk-size overflow', 400, TE + 'fffffffffffffffff\r\n'],
    ['CR without LF after chunk size', 400, TE + '2\rab'],
    ['missing CRLF after chunk data', 400, TE + '2\r\nabXY'],
    ['CR then junk after chunk data', 400, TE + '2\r\nab\rX'],
    ['control byte in chunk extension', 400, TE + '2;a\x00\r\n'],
    ['space after chunk size', 400, TE + '2 \r\nab\r\n0\r\n\r\n'],
    ['tab after chunk size', 400, TE + '2\t\r\nab\r\n0\r\n\r\n'],
    ['space before a chunk extension', 400, TE + '2 ;a\r\nab\r\n0\r\n\r\n'],
    ['junk after chunk size', 400, TE + '2 xyz\r\nab\r\n0\r\n\r\n'],
    ['0x prefix', 400, TE + '0x2\r\nab\r\n0\r\n\r\n'],
    ['empty chunk extension', 400, TE + '2;\r\nab\r\n0\r\n\r\n'],
    ['space inside a chunk extension', 400, TE + '2;a =b\r\nab\r\n0\r\n\r\n'],
    ['two words in an extension value', 400, TE + '2;a=b c\r\nab\r\n0\r\n\r\n'],
    ['text after a quoted extension value', 400, TE + '2;a="b"c\r\nab\r\n0\r\n\r\n'],
    ['unterminated quoted extension value', 400, TE + '2;a="b\r\nab\r\n0\r\n\r\n'],
    ['obs-text extension value', 400, TE + '2;a=\xe9\r\nab\r\n0\r\n\r\n'],
    ['bare LF after chunk size', 400, TE + '2\nab\r\n0\r\n\r\n'],
    ['bare LF after chunk data', 400, TE + '2\r\nab\n0\r\n\r\n'],
    ['bare LF after the last chunk', 400, TE + '2\r\nab\r\n0\n\r\n'],
    ['bare LF ending the trailers', 400, TE + '2\r\nab\r\n0\r\n\n'],
    ['bad trailer', 400, TE + '0\r\nbad trailer\r\n\r\n'],
    ['obs-fold in trailers', 400, TE + '0\r\nX: a\r\n b\r\n\r\n'],
    // a second framing in the trailers (llhttp refuses both)
    ['content-length in trailers', 400, TE + '0\r\nContent-Length: 5\r\n\r\nhello'],
    ['transfer-encoding in trailers', 400, TE + '0\r\ntransfer-encoding: chunked\r\n\r\n'],
  ]
  for (const [what, status, wire] of cases) {
    const o = parse(wire)
    t.equal(o.result, PARSE_ERROR, what)
    t.equal(o.status, status, `${what}: status`)
    t.not(o.error, '', `${what}: has a reason`)
    // Split in two, the answer is the same.
    const half = parse(wire, { cuts: [Math.floor(wire.length / 2)] })
    t.equal(half.status, status, `${what}: status when split`)
  }
})

t.test('Connection: close in the trailers makes the request the connection\'s last (as llhttp)', async (t) => {
  const o = parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\nHost: b\r\n\r\n')
  t.equal(o.result, PARSE_DONE)
  t.same(o.trailers, ['Connection', 'close', 'Host', 'b'], 'collected as sent (a Host there is not the request\'s Host)')
  t.equal(head(o).headers.host, 'a')
  const sink = new Recorder()
  const p = new H1RequestParser(sink, 1024)
  const wire = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\n\r\n')
  t.equal(p.execute(wire, 0, wire.length), PARSE_DONE)
  t.equal(p.keepAlive, false)
})

t.test('a parser in error stays in error', async (t) => {
  const p = new H1RequestParser(new Recorder(), 1024)
  const bad = Buffer.from('GET / HTTP/9.9\r\n\r\n')
  t.equal(p.execute(bad, 0, bad.length), PARSE_ERROR)
  t.equal(p.errorStatus, 505)
  const good = Buffer.from('GET / HTTP/1.1\r\n\r\n')
  t.equal(p.execute(good, 0, good.length), PARSE_ERROR)
  t.equal(p.isReadingBody, false)
})

t.test('the head is bounded by maxHeadBytes: 431, in one buffer or across pieces', async (t) => {
  const max = 256
  const line = 'GET / HTTP/1.1\r\n'
  // A head of exactly `max` bytes passes; one more byte is refused.
  const filler = (n: number): string => 'X-Fill: ' + 'a'.repeat(n - line.length - 'X-Fill: '.length - 4) + '\r\n\r\n'
  const exact = line + filler(max)
  t.equal(exact.length, max)
  const over = line + filler(max + 1)
  t.equal(parse(exact, { maxHeadBytes: max }).result, PARSE_DONE, 'exactly the limit')
  const o = parse(over, { maxHeadBytes: max })
  t.equal(o.result, PARSE_ERROR, 'one over')
  t.equal(o.status, 431)
  let bad = 0
  for (let cut = 1; cut < over.length; cut++) {
    const a = parse(exact, { maxHeadBytes: max, cuts: [cut] })
    const b = parse(over, { maxHeadBytes: max, cuts: [cut] })
    if (a.result !== PARSE_DONE || b.status !== 431) bad++
  }
  t.equal(bad, 0, 'the same limit at every split point')
  const bytewise = parse(over, { maxHeadBytes: max, cuts: Array.from({ length: over.length - 1 }, (_, i) => i + 1) })
  t.equal(bytewise.status, 431, 'one byte at a time')

  // A head that never ends fails as soon as the pending pieces pass the limit.
  const endless = line + 'X-A: b\r\n'.repeat(100)
  const e = parse(endless, { maxHeadBytes: max, cuts: [100, 200, 300, 400] })
  t.equal(e.result, PARSE_ERROR)
  t.equal(e.status, 431)
  t.match(e.error, /too large/)
  const oneBuffer = parse(endless, { maxHeadBytes: max })
  t.equal(oneBuffer.status, 431, 'unterminated and too large in one buffer')
  const leading = parse('\r\n'.repeat(200) + exact, { maxHeadBytes: max })
  t.equal(leading.result, PARSE_DONE, 'skipped empty lines do not count')
})

t.test('trailers and chunk extensions are bounded too', async (t) => {
  const max = 256
  const pre = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
  const trailers = pre + '0\r\n' + 'X-T: v\r\n'.repeat(50) + '\r\n'
  const one = parse(trailers, { maxHeadBytes: max })
  t.equal(one.status, 431, 'in one buffer')
  const split = parse(trailers, { maxHeadBytes: max, cuts: [pre.length + 10, pre.length + 200, pre.length + 300] })
  t.equal(split.status, 431, 'across pieces')
  const ext = parse(pre + '1;' + 'e'.repeat(300) + '\r\na\r\n0\r\n\r\n', { maxHeadBytes: max })
  t.equal(ext.result, PARSE_ERROR)
  t.equal(ext.status, 400)
  t.match(ext.error, /extension/)
  const fine = parse(pre + '1;' + 'e'.repeat(100) + '\r\na\r\n0\r\nX: y\r\n\r\n', { maxHeadBytes: max })
  t.equal(fine.result, PARSE_DONE)
  t.equal(fine.body, 'a')
})

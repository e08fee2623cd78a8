import t from 'tap'
import {
  H1ResponseParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, type ResponseHeaders, type ResponseSink,
} from '../../src/proxy/h1-response-parser.ts'

// The parser alone, fed by hand: every framing, every split point, every refusal.

class Recorder implements ResponseSink {
  heads: Array<{ status: number; text: string; headers: ResponseHeaders }> = []
  chunks: Buffer[] = []
  onParsedHead (statusCode: number, statusText: string, headers: ResponseHeaders): boolean {
    this.heads.push({ status: statusCode, text: statusText, headers })
    return true
  }

  onParsedBody (chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk))
    return true
  }

  get body (): string { return Buffer.concat(this.chunks).toString('latin1') }
}

interface Outcome {
  result: number
  status: number
  headers: ResponseHeaders | null
  body: string
  trailers: ResponseHeaders | null
  keepAlive: boolean
  consumed: number
  error: string
}

/** Feeds `wire` in pieces cut at `cuts`, then EOF if `eof` and still unfinished. */
function parse (wire: string, opts: { cuts?: number[], isHead?: boolean, eof?: boolean, maxHeadBytes?: number } = {}): Outcome {
  const sink = new Recorder()
  const parser = new H1ResponseParser(sink, opts.maxHeadBytes ?? 64 * 1024)
  parser.reset(opts.isHead ?? false)
  const bytes = Buffer.from(wire, 'latin1')
  const cuts = [0, ...(opts.cuts ?? []), bytes.length]
  let result = PARSE_MORE
  for (let i = 0; i + 1 < cuts.length && result === PARSE_MORE; i++) {
    const piece = bytes.subarray(cuts[i], cuts[i + 1])
    // Read regions are bigger than the data in them: pad to check the parser honours `len`.
    const region = Buffer.concat([piece, Buffer.from('GARBAGE')])
    result = parser.execute(region, piece.length)
  }
  if (result === PARSE_MORE && opts.eof === true && parser.finish()) result = PARSE_DONE
  const head = sink.heads[0]
  return {
    result,
    status: head?.status ?? 0,
    headers: head?.headers ?? null,
    body: sink.body,
    trailers: parser.trailers,
    keepAlive: parser.keepAlive,
    consumed: result === PARSE_DONE ? parser.consumed : -1,
    error: parser.errorMessage,
  }
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n' +
  '5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\nX-Other:  two words \r\n\r\n'

t.test('content-length body, headers lowercased, keep-alive by default', async (t) => {
  const o = parse('HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing: a\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nVia: x\r\nVia: y\r\n\r\nhello')
  t.equal(o.result, PARSE_DONE)
  t.equal(o.status, 201)
  t.same(o.headers, { 'content-length': '5', 'x-thing': 'a', 'set-cookie': ['a=1', 'b=2'], via: ['x', 'y'] })
  t.equal(o.body, 'hello')
  t.equal(o.keepAlive, true)
  t.equal(o.trailers, null)
})

t.test('set-cookie is an array even when alone; empty values and missing reason phrase are fine', async (t) => {
  const o = parse('HTTP/1.1 200\r\nSet-Cookie: a=1\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n')
  t.equal(o.result, PARSE_DONE)
  t.same(o.headers, { 'set-cookie': ['a=1'], 'x-empty': '', 'content-length': '0' })
})

t.test('chunked body with extensions and trailers, at every split point', async (t) => {
  const whole = parse(CHUNKED)
  t.equal(whole.result, PARSE_DONE)
  t.equal(whole.body, 'hello world')
  t.same(whole.trailers, { 'x-checksum': 'abc', 'x-other': 'two words' })
  t.equal(whole.consumed, Buffer.byteLength(CHUNKED, 'latin1'))
  let bad = 0
  for (let cut = 1; cut < CHUNKED.length; cut++) {
    const o = parse(CHUNKED, { cuts: [cut] })
    if (o.result !== PARSE_DONE || o.body !== 'hello world' || o.trailers?.['x-checksum'] !== 'abc') bad++
  }
  t.equal(bad, 0, 'every two-piece split parses the same')
  const bytewise = parse(CHUNKED, { cuts: Array.from({ length: CHUNKED.length - 1 }, (_, i) => i + 1) })
  t.equal(bytewise.result, PARSE_DONE)
  t.equal(bytewise.body, 'hello world', 'one byte at a time')
})

t.test('chunked without trailers reports none', async (t) => {
  const o = parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')
  t.equal(o.result, PARSE_DONE)
  t.equal(o.body, 'abc')
  t.equal(o.trailers, null)
})

t.test('close-delimited body ends at EOF and is never keep-alive', async (t) => {
  const o = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, part two', { cuts: [45], eof: true })
  t.equal(o.result, PARSE_DONE)
  t.equal(o.body, 'part one, part two')
  t.equal(o.keepAlive, false)
})

t.test('Transfer-Encoding other than one `chunked` is refused, as Go\'s client does', async (t) => {
  // The proxy drops Transfer-Encoding (hop-by-hop): relaying a gzip-coded body without its coding
  // would corrupt it, so the upstream's answer is an error (502), as from Knative's Go proxies.
  for (const te of ['gzip', 'gzip, chunked', 'chunked, gzip', 'xchunked', 'chunked\xa0', '\xa0chunked', '"chunked"', 'chunked;q=1', '']) {
    const o = parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`, { eof: true })
    t.equal(o.result, PARSE_ERROR, JSON.stringify(te))
  }
  t.equal(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').result, PARSE_ERROR, 'two fields')
  const ok = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding:\tChunked  \r\n\r\n2\r\nab\r\n0\r\n\r\n')
  t.equal(ok.result, PARSE_DONE, 'any case, HTAB before, SP after')
  t.equal(ok.body, 'ab')
  t.equal(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n').result, PARSE_ERROR, 'HTAB after chunked (llhttp reads until close)')
  const notModified = parse('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n')
  t.equal(notModified.result, PARSE_ERROR, 'on a response without a body too, as Go\'s client')
})

t.test('trailers: a framing field is an error, Connection: close ends the connection', async (t) => {
  const pre = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n'
  t.equal(parse(pre + 'Content-Length: 2\r\n\r\n').result, PARSE_ERROR, 'content-length')
  t.equal(parse(pre + 'Transfer-Encoding: chunked\r\n\r\n').result, PARSE_ERROR, 'transfer-encoding')
  const close = parse(pre + 'Connection: close\r\nX-T: 1\r\n\r\n')
  t.equal(close.result, PARSE_DONE)
  t.equal(close.keepAlive, false)
  t.same(close.trailers, { connection: 'close', 'x-t': '1' }, 'parsed as sent; the proxy drops what must not be relayed')
})

t.test('no body: HEAD, 204, 304, whatever the headers say', async (t) => {
  for (const [wire, isHead] of [
    ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', true],
    ['HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', false],
    ['HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n', false],
  ] as const) {
    const o = parse(wire + 'HTTP/1.1 200 OK', { isHead })
    t.equal(o.result, PARSE_DONE, wire.split('\r\n')[0])
    t.equal(o.body, '')
    t.equal(o.consumed, wire.length, 'stops at the end of the head; the rest is not this response')
  }
})

t.test('1xx responses are skipped, 101 is refused', async (t) => {
  const o = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', { cuts: [10, 30] })
  t.equal(o.result, PARSE_DONE)
  t.equal(o.status, 200)
  t.same(o.headers, { 'content-length': '2' }, 'the 103 fields do not leak into the final head')
  t.equal(o.body, 'ok')
  const up = parse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')
  t.equal(up.result, PARSE_ERROR)
})

t.test('connection reuse: HTTP/1.1 close, HTTP/1.0 keep-alive', async (t) => {
  t.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').keepAlive, false)
  t.equal(parse('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n').keepAlive, false)
  t.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').keepAlive, false)
  t.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').keepAlive, true)
})

t.test('bytes after a complete response are reported through `consumed`', async (t) => {
  const wire = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'
  const o = parse(wire)
  t.equal(o.result, PARSE_DONE)
  t.equal(o.consumed, wire.length - 5)
})

t.test('malformed responses are refused with a reason', async (t) => {
  const cases: Array<[string, string]> = [
    ['bad status line', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['not http', 'SSH-2.0-OpenSSH_9.2\r\n\r\n'],
    ['status out of range', 'HTTP/1.1 999 Nope\r\n\r\n'],
    ['status with letters', 'HTTP/1.1 2x0 OK\r\n\r\n'],
    ['no space after status', 'HTTP/1.1 200OK\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n  continued\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n'],
    ['no colon', 'HTTP/1.1 200 OK\r\nX-A\r\n\r\n'],
    ['empty name', 'HTTP/1.1 200 OK\r\n: a\r\n\r\n'],
    ['bad name byte', 'HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n'],
    ['control byte in value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n'],
    ['bare CR in value', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n'],
    ['negative content-length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
    ['content-length list', 'HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n'],
    ['conflicting content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['content-length repeated as other text (Go compares the text)', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n'],
    ['content-length and chunked', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['transfer-encoding in 1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['empty chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n'],
    ['huge chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n'],
    ['missing CRLF after chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY'],
    ['control byte in chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\x00\r\n'],
    ['bad trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n'],
    // CRLF only, as llhttp's response mode
    ['bare LF after the status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['bare LF after a field', 'HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n'],
    ['bare LF everywhere', 'HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n3\nabc\n0\n\n'],
    ['bare LF after chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n'],
    ['bare LF after chunk data', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n'],
    ['space after chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n'],
    ['empty chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nab\r\n0\r\n\r\n'],
  ]
  for (const [what, wire] of cases) {
    const o = parse(wire)
    t.equal(o.result, PARSE_ERROR, what)
    t.not(o.error, '', `${what}: has a reason`)
    t.equal(o.keepAlive, false, `${what}: not reusable`)
  }
})

t.test('head and trailer sections are bounded, split or not', async (t) => {
  const big = 'HTTP/1.1 200 OK\r\nX-Big: ' + 'a'.repeat(2000) + '\r\n\r\n'
  t.equal(parse(big, { maxHeadBytes: 1024 }).result, PARSE_ERROR, 'in one read')
  t.equal(parse(big, { maxHeadBytes: 1024, cuts: [100, 600, 1100, 1500] }).result, PARSE_ERROR, 'across reads')
  const endless = 'HTTP/1.1 200 OK\r\n' + 'X-A: b\r\n'.repeat(200)
  const o = parse(endless, { maxHeadBytes: 1024, cuts: [500, 1000, 1500] })
  t.equal(o.result, PARSE_ERROR, 'a head that never ends fails once over the limit')
  t.match(o.error, /too large/)
  const trailers = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' + 'X-T: v\r\n'.repeat(200) + '\r\n'
  t.equal(parse(trailers, { maxHeadBytes: 1024, cuts: [60, 700] }).result, PARSE_ERROR, 'trailers too')
  t.equal(parse(big, { maxHeadBytes: 4096, cuts: [100, 600], eof: true }).result, PARSE_DONE, 'under the limit it parses')
})

t.test('a response cut short is not complete at EOF', async (t) => {
  for (const wire of ['', 'HTTP/1.1 200 OK\r\nContent-Le', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab']) {
    const sink = new Recorder()
    const parser = new H1ResponseParser(sink, 1024)
    parser.reset(false)
    const b = Buffer.from(wire)
    if (b.length > 0) t.equal(parser.execute(b, b.length), PARSE_MORE)
    t.equal(parser.finish(), false, JSON.stringify(wire))
    t.equal(parser.hasStarted, b.length > 0)
  }
})

t.test('a sink that returns false stops the parse', async (t) => {
  let bodies = 0
  const parser = new H1ResponseParser({
    onParsedHead: () => true,
    onParsedBody: () => { bodies++; return false },
  }, 1024)
  parser.reset(false)
  const b = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n')
  t.not(parser.execute(b, b.length), PARSE_DONE)
  t.equal(bodies, 1, 'nothing delivered after the stop')
})

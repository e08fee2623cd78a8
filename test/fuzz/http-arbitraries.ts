import fc from 'fast-check'

// fast-check generators of HTTP/1.1 messages as raw bytes (latin1 strings), mostly well formed
// and biased towards the places where parsers disagree: framing fields (Content-Length,
// Transfer-Encoding and their obfuscations), whitespace and line ends, obs-fold, chunk-size
// lines and extensions, control and high bytes, huge numbers, pipelined messages. Then a few
// random byte edits on top.

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight, arbitrary })

/** Single bytes that break things: controls, DEL, obs-text, separators, the whitespace family. */
export const HOSTILE_BYTES = [
  '\x00', '\x01', '\x08', '\t', '\n', '\x0b', '\x0c', '\r', '\x1b', '\x1f', ' ', '"', '(', ',', '/', ':', ';', '=',
  '@', '[', '\\', '{', '\x7f', '\x80', '\x85', '\xa0', '\xff', '0', 'a', 'Z', '-',
]

const lineEnd = fc.oneof(w(30, fc.constant('\r\n')), w(1, fc.constantFrom('\n', '\r', '\r\r\n', '\n\r', ' \r\n')))

const method = fc.oneof(
  w(20, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH')),
  w(2, fc.constantFrom('get', 'Post', 'PURGE', 'PROPFIND', 'FOO', 'M-SEARCH', 'G\x00T', 'GET\t', 'GÉT', 'GE T', '')),
)

const target = fc.oneof(
  w(20, fc.constantFrom('/', '/a/b?c=d&e', '/%20x', '/a;b', '/~user', '/a#frag')),
  w(3, fc.constantFrom('*', 'http://example.com/x', 'http://h:8080', 'example.com:443', '//x', 'x')),
  w(2, fc.constantFrom('/\x7f', '/\xe9', '/a b', '/\t', '/\x00', '/\x0c', '/\xff\xfe', '/"<>`{}|\\^')),
)

const version = fc.oneof(
  w(20, fc.constant('HTTP/1.1')),
  w(4, fc.constant('HTTP/1.0')),
  w(2, fc.constantFrom('HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/1.x', 'HTTP /1.1', 'HTTP/3.0')),
)

/** Field names, with the framing ones most likely, in odd spellings too. */
const fieldName = fc.oneof(
  w(8, fc.constantFrom('Host', 'host', 'HOST')),
  w(10, fc.constantFrom('Content-Length', 'content-length', 'CONTENT-LENGTH')),
  w(10, fc.constantFrom('Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING')),
  w(5, fc.constantFrom('Connection', 'connection')),
  w(8, fc.constantFrom('X-A', 'Accept', 'User-Agent', 'Cookie', 'Set-Cookie', 'Trailer', 'TE', 'Keep-Alive', 'Expect')),
  w(2, fc.constantFrom('Transfer_Encoding', 'Content-Length ', ' Transfer-Encoding', 'Transfer-Encoding\t', 'X\x00Y', 'X\xe9', 'X@Y', '', 'A"B', 'Transfer-Encoding\xa0')),
)

const separator = fc.oneof(w(20, fc.constant(': ')), w(4, fc.constantFrom(':', ':\t', ':  ', ': \t')), w(1, fc.constantFrom(' :', '\t:', '::', ':\x0b', ':\xa0', ':\x0c')))

const teValue = fc.oneof(
  w(10, fc.constantFrom('chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'identity')),
  w(6, fc.constantFrom(
    'xchunked', 'chunked, identity', 'chunked,', ',chunked', ' chunked', 'chunked ', 'chunked\t', '\tchunked', 'chunk',
    'chunked;q=1', '"chunked"', 'chunked, chunked', 'gzip,chunked', 'gzip ,chunked', 'gzip\t,\tchunked', 'chunked\x0b',
    '\x0bchunked', 'chunked\x0c', 'chunked\xa0', '\xa0chunked', 'chunked\x85', 'chunked\x00', 'chun\x00ked', 'chunkedx',
    'cHuNkEd', 'gzip', 'deflate, gzip', '', ',', 'chunked,,', 'chunked\r', 'gzip chunked', 'chunked gzip')),
)

const clValue = fc.oneof(
  w(10, fc.constantFrom('0', '1', '5', '10', '16')),
  w(6, fc.constantFrom(
    '05', '00000000000000000005', ' 5', '5 ', '+5', '-5', '5.0', '0x5', '5, 5', '5,5', '1e1', '', '\xa05', '5\xa0', '\x0b5',
    '18446744073709551616', '9007199254740993', '99999999999999999999999', '4294967296', '5\x00', '٥', '5 5', '0\t')),
)

const connectionValue = fc.constantFrom('close', 'keep-alive', 'Close', 'upgrade', 'keep-alive, close', 'close\xa0', ' close', 'close,', 'te, close', 'Keep-Alive', 'x-a', '')

/** Any latin1 value, occasionally with a hostile byte. */
const anyValue = fc.oneof(
  w(10, fc.constantFrom('a', 'text/html', 'x y', 'a, b', '', 'bytes=0-1', '"q"', 'é', 'a\tb')),
  w(3, fc.array(fc.constantFrom(...HOSTILE_BYTES, 'a', 'b', ' '), { minLength: 1, maxLength: 6 }).map((a) => a.join(''))),
)

function valueFor (name: string): fc.Arbitrary<string> {
  const lower = name.toLowerCase()
  if (lower.startsWith('transfer')) return fc.oneof(w(6, teValue), w(1, anyValue))
  if (lower.startsWith('content-length')) return fc.oneof(w(6, clValue), w(1, anyValue))
  if (lower === 'connection') return fc.oneof(w(6, connectionValue), w(1, anyValue))
  if (lower === 'host') return fc.oneof(w(6, fc.constantFrom('example.com', 'a', 'b:80', '[::1]:8080', '')), w(1, anyValue))
  if (lower === 'expect') return fc.constantFrom('100-continue')
  return anyValue
}

/** One header line, without its line end; an obs-fold continuation now and then. */
const headerLine = fieldName.chain((name) => fc.tuple(separator, valueFor(name), fc.oneof(w(12, fc.constant('')), w(1, fc.constantFrom('\r\n x', '\r\n\tchunked', '\r\n ', '\n chunked')))).map(([sep, value, fold]) => name + sep + value + fold))

const chunkSize = (n: number): fc.Arbitrary<string> => fc.oneof(
  w(20, fc.constant(n.toString(16))),
  w(2, fc.constantFrom(n.toString(16).toUpperCase(), '000' + n.toString(16), '0x' + n.toString(16), n.toString(16) + ' ', ' ' + n.toString(16), '-' + n.toString(16), '+' + n.toString(16), n.toString(16) + '\t', '')),
  w(1, fc.constantFrom('fffffffffffffffff', '10000000000000000', '7fffffffffffffff', '1' + '0'.repeat(15), (n + 1).toString(16), 'g', ' ')),
)

const chunkExt = fc.oneof(
  w(20, fc.constant('')),
  w(5, fc.constantFrom(';a', ';a=b', ';a="b c"', ';a=b;c=d', ';name=value', ';a=""', ';a="\\""')),
  w(3, fc.constantFrom(';', ' ;a', '; a', ';a =b', ';a= b', ';a=b c', ';a=\x00', ';a="b', ';a="\x7f"', ';=b', ';a=\xe9', ';a="\xe9"', ';\t', ';a=b\t', ';a,b', ';a=b=c', ';a="b"c')),
)

const chunkData = fc.array(fc.constantFrom('h', 'e', 'l', 'o', '\r', '\n', '0', '\x00', '\xff', ' '), { minLength: 1, maxLength: 12 }).map((a) => a.join(''))

const chunk = chunkData.chain((data) => fc.tuple(chunkSize(data.length), chunkExt, lineEnd, lineEnd).map(([size, ext, e1, e2]) => size + ext + e1 + data + e2))

const trailerSection = fc.oneof(
  w(10, fc.constant('')),
  w(3, fc.array(headerLine.chain((h) => lineEnd.map((e) => h + e)), { minLength: 1, maxLength: 2 }).map((a) => a.join(''))),
)

const chunkedBody = fc.tuple(fc.array(chunk, { maxLength: 3 }), fc.oneof(w(10, fc.constant('0')), w(1, fc.constantFrom('00', '0;a=b', '0 ', '000000000000000000000'))), lineEnd, trailerSection, lineEnd)
  .map(([chunks, last, e1, trailers, e2]) => chunks.join('') + last + e1 + trailers + e2)

const plainBody = fc.oneof(w(10, fc.constant('')), w(5, fc.constantFrom('hello', 'a', '0123456789abcdef')), w(1, fc.constantFrom('GET / HTTP/1.1\r\nHost: s\r\n\r\n', '0\r\n\r\n')))

/** Framing headers chosen to agree with the body, or deliberately not. */
const framedMessage = fc.oneof(
  // Content-Length matching the body.
  w(6, plainBody.map((body) => ({ headers: [`Content-Length: ${body.length}`], body }))),
  // Chunked.
  w(6, chunkedBody.map((body) => ({ headers: ['Transfer-Encoding: chunked'], body }))),
  // No framing.
  w(3, fc.constant({ headers: [] as string[], body: '' })),
  // Whatever the generated header lines say, with either kind of body.
  w(6, fc.tuple(fc.array(headerLine, { maxLength: 3 }), fc.oneof(plainBody, chunkedBody)).map(([headers, body]) => ({ headers, body }))),
)

export const requestMessage: fc.Arbitrary<string> = fc.record({
  method,
  target,
  version,
  startSep: fc.oneof(w(30, fc.constant([' ', ' '])), w(1, fc.constantFrom(['  ', ' '], [' ', '  '], ['\t', ' '], [' ', '\t'], ['', ' ']))),
  lineEnds: fc.array(lineEnd, { minLength: 8, maxLength: 8 }),
  hasHost: fc.oneof(w(12, fc.constant(true)), w(1, fc.constant(false))),
  host: fc.constantFrom('Host: example.com', 'Host: a', 'host: a:80', 'Host:', 'Host: a b', 'Host: a\xe9'),
  before: fc.array(headerLine, { maxLength: 2 }),
  framed: framedMessage,
  after: fc.array(headerLine, { maxLength: 2 }),
}).map((r) => {
  const lines = [r.method + (r.startSep[0] ?? ' ') + r.target + (r.startSep[1] ?? ' ') + r.version]
  if (r.hasHost) lines.push(r.host)
  lines.push(...r.before, ...r.framed.headers, ...r.after)
  let head = ''
  for (let i = 0; i < lines.length; i++) head += lines[i] + (r.lineEnds[i % r.lineEnds.length] ?? '\r\n')
  return head + (r.lineEnds[7] ?? '\r\n') + r.framed.body
})

/** A random edit: insert, replace or delete one byte, biased to hostile bytes. */
export const byteEdit = fc.record({
  kind: fc.constantFrom('insert', 'replace', 'delete'),
  at: fc.nat(),
  byte: fc.oneof(w(4, fc.constantFrom(...HOSTILE_BYTES)), w(1, fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)))),
})

export type ByteEdit = { kind: string, at: number, byte: string }

export function applyEdits (wire: string, edits: readonly ByteEdit[]): string {
  let s = wire
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % s.length
    if (e.kind === 'insert') s = s.slice(0, at) + e.byte + s.slice(at)
    else if (e.kind === 'replace') s = s.slice(0, at) + e.byte + s.slice(at + 1)
    else s = s.slice(0, at) + s.slice(at + 1)
  }
  return s
}

/** One to three requests on one connection, then up to two byte edits, and where reads split it. */
export const requestCase = fc.record({
  messages: fc.array(requestMessage, { minLength: 1, maxLength: 3 }),
  edits: fc.oneof(w(3, fc.constant([] as ByteEdit[])), w(2, fc.array(byteEdit, { minLength: 1, maxLength: 2 }))),
  cuts: fc.array(fc.nat({ max: 400 }), { maxLength: 3 }),
}).map((r) => ({ wire: applyEdits(r.messages.join(''), r.edits), cuts: [...r.cuts].sort((a, b) => a - b) }))

// --- responses ---------------------------------------------------------------------------------

const statusLine = fc.oneof(
  w(20, fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified', 'HTTP/1.0 200 OK', 'HTTP/1.1 500 Internal Server Error')),
  w(3, fc.constantFrom('HTTP/1.1 200', 'HTTP/1.1 200 ', 'HTTP/1.1 201 Created\x01', 'HTTP/1.1 200 \xe9t\xe9', 'HTTP/1.1 200 a\tb', 'HTTP/1.1 599 X', 'HTTP/1.1 600 X', 'HTTP/1.1 099 X', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'HTTP/1.2 200 OK', 'HTTP/2.0 200 OK', 'HTTP/1.1 200 OK ', 'http/1.1 200 OK', 'HTTP/1.1\t200 OK', 'HTTP/1.1 20x OK')),
)

const interim = fc.oneof(w(10, fc.constant('')), w(2, fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n')))

const responseFraming = fc.oneof(
  w(6, plainBody.map((body) => ({ headers: [`Content-Length: ${body.length}`], body }))),
  w(6, chunkedBody.map((body) => ({ headers: ['Transfer-Encoding: chunked'], body }))),
  w(3, plainBody.map((body) => ({ headers: [] as string[], body }))),
  w(6, fc.tuple(fc.array(headerLine, { maxLength: 3 }), fc.oneof(plainBody, chunkedBody)).map(([headers, body]) => ({ headers, body }))),
)

/** One response (after optional 1xx ones), byte edits, read cuts, and whether the request was HEAD. */
export const responseCase = fc.record({
  interim,
  status: statusLine,
  lineEnds: fc.array(lineEnd, { minLength: 8, maxLength: 8 }),
  before: fc.array(headerLine, { maxLength: 2 }),
  framed: responseFraming,
  after: fc.array(headerLine, { maxLength: 2 }),
  edits: fc.oneof(w(3, fc.constant([] as ByteEdit[])), w(2, fc.array(byteEdit, { minLength: 1, maxLength: 2 }))),
  cuts: fc.array(fc.nat({ max: 300 }), { maxLength: 3 }),
  isHead: fc.oneof(w(8, fc.constant(false)), w(1, fc.constant(true))),
}).map((r) => {
  const lines = [r.status, ...r.before, ...r.framed.headers, ...r.after]
  let head = ''
  for (let i = 0; i < lines.length; i++) head += lines[i] + (r.lineEnds[i % r.lineEnds.length] ?? '\r\n')
  const wire = applyEdits(r.interim + head + (r.lineEnds[7] ?? '\r\n') + r.framed.body, r.edits)
  return { wire, cuts: [...r.cuts].sort((a, b) => a - b), isHead: r.isHead }
})

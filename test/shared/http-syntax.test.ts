// HTTP/1.1 byte classes (RFC 9110 5.5, 5.6.2; RFC 9112), checked over every byte value, and the
// `| 0x20` case-folding shortcuts checked exhaustively against the claims in their comments.
import t from 'tap'
import {
  fieldNameTable, hasHtabAfterValue, isChunkedOnly, isFieldValue, isRequestTarget, isToken, isValidHostBytes,
  isValidHostString, matchFieldName, parseContentLength, trimOws,
} from '../../src/shared/http-syntax.ts'

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
// Go's httpguts.ValidHostHeader table (validHostByte): alphanumerics and these.
const GO_HOST_BYTES = "!$%&'()*+,-.:;=[]_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

function byteString (c: number): string { return String.fromCharCode(c) }

t.test('isToken: exactly the tchar bytes, non-empty', async (t) => {
  const wrong: number[] = []
  for (let c = 0; c < 256; c++) if (isToken(byteString(c)) !== TCHAR.includes(byteString(c))) wrong.push(c)
  t.same(wrong, [])
  t.notOk(isToken(''))
  t.ok(isToken('X-Custom-Header'))
  t.notOk(isToken('bad header'))
  t.notOk(isToken('é'), 'beyond ASCII')
})

t.test('isFieldValue: HTAB, SP, VCHAR and obs-text; no CR, LF, NUL, DEL or other control', async (t) => {
  const wrong: number[] = []
  for (let c = 0; c < 256; c++) {
    const allowed = c === 9 || (c >= 32 && c !== 127)
    if (isFieldValue(`a${byteString(c)}b`) !== allowed) wrong.push(c)
  }
  t.same(wrong, [])
  t.ok(isFieldValue(''), 'an empty value is a value')
  t.notOk(isFieldValue('a\u0100'), 'not writable as latin1')
  t.notOk(isFieldValue('a\r\nX-Injected: 1'))
})

t.test('isRequestTarget: visible latin1 bytes only, non-empty', async (t) => {
  const wrong: number[] = []
  for (let c = 0; c < 256; c++) {
    const allowed = c > 32 && c !== 127
    if (isRequestTarget(`/${byteString(c)}`) !== allowed) wrong.push(c)
  }
  t.same(wrong, [])
  t.notOk(isRequestTarget(''))
  t.notOk(isRequestTarget('/a\u2028'))
})

t.test('parseContentLength: 1 to 15 digits, else -1', async (t) => {
  const cases: Array<[string, number]> = [
    ['0', 0], ['42', 42], ['007', 7], ['999999999999999', 999_999_999_999_999],
    ['', -1], ['1000000000000000', -1], ['-1', -1], ['+1', -1], [' 1', -1], ['1 ', -1], ['1.0', -1], ['0x10', -1], ['1e3', -1],
  ]
  for (const [value, want] of cases) t.equal(parseContentLength(value), want, JSON.stringify(value))
})

t.test('matchFieldName: the table\'s constant for a name in any case, without slicing', async (t) => {
  const table = fieldNameTable(['content-length', 'transfer-encoding', 'host', 'te'])
  const b = Buffer.from('xxContent-LENGTHxxHOSTxTexhostsxConTent-Lengtx')
  t.equal(matchFieldName(table, b, 2, 14), 'content-length')
  t.equal(matchFieldName(table, b, 18, 4), 'host')
  t.equal(matchFieldName(table, b, 23, 2), 'te')
  t.equal(matchFieldName(table, b, 26, 5), null, 'no name of that length matches')
  t.equal(matchFieldName(table, b, 32, 14), null, 'same length, different name')
  t.equal(matchFieldName(table, b, 0, 100), null, 'longer than any name')
})

t.test('the `| 0x20` fold matches a tchar to a name character only when it is that character or its uppercase', async (t) => {
  // The claim holds for what the tables hold: lowercase letters, digits and '-'.
  const lower = '-0123456789abcdefghijklmnopqrstuvwxyz'
  const wrong: string[] = []
  for (const name of lower) {
    const table = fieldNameTable([name])
    for (let c = 0; c < 256; c++) {
      const matched = matchFieldName(table, Buffer.from([c]), 0, 1) !== null
      const should = byteString(c) === name || byteString(c) === name.toUpperCase()
      if (TCHAR.includes(byteString(c)) && matched !== should) wrong.push(`${name} vs ${c}`)
    }
  }
  t.same(wrong, [])
  // It does not hold for '^', '_' or '~' ('_' | 0x20 is DEL, '^' | 0x20 is '~'): a table name with
  // one of them would never match, so the tables keep to the characters above.
  t.equal(matchFieldName(fieldNameTable(['x_y']), Buffer.from('x_y'), 0, 3), null)
})

t.test('isChunkedOnly: `chunked` in any case and nothing else, over every byte at every position', async (t) => {
  t.ok(isChunkedOnly('chunked'))
  t.ok(isChunkedOnly('ChUnKeD'))
  t.notOk(isChunkedOnly('chunked '), 'the caller trims; a longer value is not chunked')
  t.notOk(isChunkedOnly('gzip, chunked'))
  const wrong: string[] = []
  for (let i = 0; i < 7; i++) {
    for (let c = 0; c < 256; c++) {
      const s = 'chunked'.slice(0, i) + byteString(c) + 'chunked'.slice(i + 1)
      const should = byteString(c).toLowerCase() === 'chunked'[i] && c < 128
      if (isChunkedOnly(s) !== should) wrong.push(`${i}:${c}`)
    }
  }
  t.same(wrong, [])
})

t.test('trimOws: SP and HTAB only (not VT, FF, NBSP)', async (t) => {
  t.equal(trimOws(' \t a b \t '), 'a b')
  const same = 'abc'
  t.equal(trimOws(same), same)
  t.equal(trimOws('\u000bchunked'), '\u000bchunked')
  t.equal(trimOws('chunked\u00a0'), 'chunked\u00a0')
  t.equal(trimOws('   '), '')
})

t.test('hasHtabAfterValue: an HTAB in the whitespace after the value, up to the line end', async (t) => {
  t.ok(hasHtabAfterValue(Buffer.from('chunked \t\r\n'), 7))
  t.ok(hasHtabAfterValue(Buffer.from('chunked\t\r\n'), 7))
  t.notOk(hasHtabAfterValue(Buffer.from('chunked  \r\n'), 7))
  t.notOk(hasHtabAfterValue(Buffer.from('chunked\r\n\t'), 7))
})

t.test('Host bytes: Go\'s httpguts.ValidHostHeader set, for bytes and latin1 strings alike', async (t) => {
  const wrong: number[] = []
  for (let c = 0; c < 256; c++) {
    const allowed = GO_HOST_BYTES.includes(byteString(c))
    if (isValidHostBytes(Buffer.from([0x61, c, 0x62]), 0, 3) !== allowed) wrong.push(c)
    if (isValidHostString(`a${byteString(c)}b`) !== allowed) wrong.push(1000 + c)
  }
  t.same(wrong, [])
  t.ok(isValidHostString('[::1]:8080'))
  t.ok(isValidHostBytes(Buffer.from('x y'), 0, 1), 'only the given range is checked')
  t.notOk(isValidHostString('a\u0161'), 'beyond latin1')
})

import fc from 'fast-check'
import t from 'tap'
import { requestCase } from '../fuzz/http-arbitraries.ts'
import { fieldValues, judge, showBytes, type DifferenceTable } from '../fuzz/differential.ts'
import { fuzzRuns, fuzzSeed } from '../fuzz/fuzz-runs.ts'
import { LlhttpRequestOracle } from '../fuzz/llhttp-request-oracle.ts'
import type { ParseOutcome } from '../fuzz/parse-outcome.ts'
import { CLOSED_WITHOUT_KEEP_ALIVE, EOF_MID_HEAD, parseRequestsWithSluice } from '../fuzz/sluice-request-model.ts'

// Differential fuzzing of H1RequestParser against llhttp (issue 13): the same bytes go to Sluice's
// parser (in-process, cut into reads where the generator says) and to a real node:http server on
// 127.0.0.1 (one connection per case). Any difference in what is accepted, or in the method,
// target, version, headers, body or trailers of an accepted request, fails the test unless a row
// of ALLOWED below names it and says why.
//
// `npm test` runs the seed corpus and a few thousand generated cases; `npm run fuzz` runs many
// more (SLUICE_FUZZ_RUNS, SLUICE_FUZZ_SEED to replay one run).

/** llhttp's request methods (llhttp/src/llhttp/constants.ts, METHODS_HTTP + the RTSP/ICE ones node accepts). */
const LLHTTP_METHODS = new Set([
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE', 'PROPFIND',
  'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE',
  'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'QUERY',
])

/**
 * Every accepted difference between Sluice and llhttp, with its reason. `stricter`: Sluice
 * refuses what llhttp delivers (the safe direction: the connection closes). `lenient`: Sluice
 * delivers what llhttp refuses; each row is narrow and cannot change where a message ends.
 */
const ALLOWED: DifferenceTable = {
  eofMidHead: EOF_MID_HEAD,
  stricter: [
    {
      name: 'second Host field',
      reason: 'RFC 9112 3.2 (a request with more than one Host is invalid) and Go\'s server ("too many Host headers", identical values too); node keeps the first, so the app and a router could read different hosts',
      sluiceCode: /^400 too many Host headers$/,
    },
    {
      name: 'malformed Host',
      reason: 'Go\'s server (httpguts.ValidHostHeader): a Host byte outside letters, digits and !$%&\'()*+,-.:;=[]_~ is 400; llhttp does not look at Host',
      sluiceCode: /^400 malformed Host header$/,
    },
    {
      name: 'Transfer-Encoding other than one `chunked`',
      reason: 'Go\'s server and nginx answer 501 to any other coding or to two TE fields; we drop TE when forwarding, so a coded body would reach the app without its coding',
      sluiceCode: /^501 unsupported transfer-encoding$/,
    },
    {
      name: 'Transfer-Encoding on HTTP/1.0',
      reason: 'RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty; llhttp honours it',
      sluiceCode: /^400 transfer-encoding in an HTTP\/1\.0 request$/,
    },
    {
      name: '`Connection: close` and `keep-alive` together',
      reason: 'close wins (RFC 9112 9.6: the sender will close); llhttp lets keep-alive win on HTTP/1.0 and serves the next request',
      sluiceCode: new RegExp(`^${CLOSED_WITHOUT_KEEP_ALIVE}$`),
      when: (wire) => /\r\nconnection:[^\r]*close/i.test(wire) && /\r\nconnection:[^\r]*keep-alive/i.test(wire),
    },
    {
      name: 'request line without a version',
      reason: 'an HTTP/0.9-style line (method SP target CRLF) is 400, as Go\'s server answers; llhttp takes it as an HTTP/0.9 request',
      sluiceCode: /^400 bad request (target|line)$/,
    },
    {
      name: 'HTTP major version other than 1',
      reason: 'HTTP/0.9 and HTTP/2.0 request lines are 505 (as Go\'s server); node:http serves them as HTTP/1.x',
      sluiceCode: /^505 /,
    },
    {
      name: 'Expect other than 100-continue',
      reason: 'H1Server answers 417 to any other Expect value (as Go\'s server), `100-continue` with NBSP or VT around it included; node:http looks for 100-continue anywhere in the value with a regular expression',
      sluiceCode: /^417 unsupported Expect header$/,
    },
    {
      name: 'chunk extension llhttp lets through',
      reason: 'a chunk extension is `;` token [`=` (token / quoted-string)] (RFC 9112 7.1.1); llhttp also takes an empty name (`;=b`)',
      sluiceCode: /^400 bad chunk extension$/,
    },
    {
      name: 'chunk size of 2^53 or more',
      reason: 'a chunk size must stay a safe integer; llhttp takes up to 2^64-1 and waits for the data',
      sluiceCode: /^400 chunk size too large$/,
    },
    {
      name: 'Content-Length over 15 digits',
      reason: 'the value must stay a safe integer, so 16+ digits (leading zeros included) are 400; llhttp takes up to 2^64-1',
      sluiceCode: /^400 invalid content-length$/,
    },
  ],
  lenient: [
    {
      name: 'method outside llhttp\'s list',
      reason: 'any token is a method (RFC 9110 9.1, Go\'s server); llhttp knows a fixed list. A method never decides framing here',
      llhttpCode: 'HPE_INVALID_METHOD',
      applies: (m) => !LLHTTP_METHODS.has(m.method),
    },
    {
      name: 'request-target syntax',
      reason: 'the target must be visible bytes (no SP, CTL, DEL), so it cannot split the request line; its URI form and obs-text are left to the router and the app (Go\'s server accepts obs-text and forms llhttp refuses)',
      llhttpCode: 'HPE_INVALID_URL',
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the case is about control bytes
      applies: (m) => m.url.length > 0 && !/[\x00-\x20\x7f]/.test(m.url),
    },
    {
      name: 'repeated identical Content-Length',
      reason: 'RFC 9110 8.6 lets a recipient take identical values as one, as Go\'s server does; the length is the same either way',
      llhttpCode: 'HPE_UNEXPECTED_CONTENT_LENGTH',
      applies: (m) => {
        const values = fieldValues(m.rawHeaders, 'content-length')
        return values.length > 1 && values.every((v) => v === values[0]) && fieldValues(m.rawHeaders, 'transfer-encoding').length === 0
      },
    },
    {
      name: 'HTTP/1.2 to HTTP/1.9',
      reason: 'RFC 9110 2.5: a higher minor version is served as the highest we implement (Go does the same); llhttp knows 1.0 and 1.1 only',
      llhttpCode: 'HPE_INVALID_VERSION',
      applies: (m) => m.httpMinor > 1,
    },
  ],
}

/** Issue 13's vectors and the published smuggling vectors (CL.TE, TE.CL, TE.TE obfuscations...). */
const SEEDS: readonly string[] = [
  // issue 13
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n',
  'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xa0\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \xa0chunked\r\nContent-Length: 5\r\n\r\nhello',
  'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\xa0\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\x0b\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
  // CL.TE and TE.CL
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n',
  // TE.TE obfuscations
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nX: X\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x0c\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunk\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: cHuNkEd\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\tgzip\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n',
  // chunk-size and extension forms
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c="d;e"\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;ext\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a="\r\n"\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0000005\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n',
  // LF-only and bare CR line ends
  'GET / HTTP/1.1\nHost: x\n\n',
  'POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'GET / HTTP/1.1\rHost: x\r\n\r\n',
  // Content-Length forms
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 ,5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 05\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\x0b5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\x00\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551621\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
  // trailers that try to reframe
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n',
  // HTTP/1.0, pipelining, request lines
  'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
  '\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n',
  'GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\x80\xff\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n',
  'GET http://other.example/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello',
]

function checkCase (wire: Buffer, cuts: readonly number[], sluice: ParseOutcome, llhttp: ParseOutcome, allowedCounts: Map<string, number>): string | null {
  const verdict = judge(wire.toString('latin1'), sluice, llhttp, ALLOWED)
  if (verdict.allowedBy !== null) allowedCounts.set(verdict.allowedBy, (allowedCounts.get(verdict.allowedBy) ?? 0) + 1)
  if (verdict.failure === null) return null
  return `${verdict.failure}\n  wire ${showBytes(wire)} cuts ${JSON.stringify(cuts)}\n  sluice ${sluice.ending} ${sluice.code}, llhttp ${llhttp.ending} ${llhttp.code}`
}

t.test('request parser vs llhttp', async (t) => {
  const oracle = new LlhttpRequestOracle()
  await oracle.start()
  t.teardown(() => oracle.close())
  const allowedCounts = new Map<string, number>()

  t.test('seed corpus: issue 13 and the published smuggling vectors, at every split point', async (t) => {
    for (const seed of SEEDS) {
      const wire = Buffer.from(seed, 'latin1')
      const llhttp = await oracle.parse(wire)
      const whole = parseRequestsWithSluice(wire, [])
      t.equal(checkCase(wire, [], whole, llhttp, allowedCounts), null, JSON.stringify(seed))
      // Every two-piece split gives Sluice's parser the same answer.
      for (let cut = 1; cut < wire.length; cut++) {
        const split = parseRequestsWithSluice(wire, [cut])
        if (JSON.stringify(split) !== JSON.stringify(whole)) {
          t.fail(`split at ${cut} differs: ${JSON.stringify(seed)}`)
          break
        }
      }
    }
  })

  t.test('generated requests, valid and hostile', async (t) => {
    const runs = fuzzRuns(3000)
    const started = performance.now()
    let cases = 0
    await fc.assert(fc.asyncProperty(requestCase, async ({ wire, cuts }) => {
      cases++
      const bytes = Buffer.from(wire, 'latin1')
      const failure = checkCase(bytes, cuts, parseRequestsWithSluice(bytes, cuts), await oracle.parse(bytes), allowedCounts)
      if (failure !== null) throw new Error(failure)
    }), { numRuns: runs, seed: fuzzSeed() })
    t.pass(`${cases} cases in ${Math.round(performance.now() - started)} ms`)
  })

  t.test('allowed differences seen', async (t) => {
    for (const [name, n] of allowedCounts) t.comment(`${n} x ${name}`)
    for (const name of allowedCounts.keys()) {
      t.ok(ALLOWED.stricter.some((r) => r.name === name) || ALLOWED.lenient.some((r) => r.name === name), name)
    }
  })
})

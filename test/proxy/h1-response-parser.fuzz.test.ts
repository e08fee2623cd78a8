import fc from 'fast-check'
import t from 'tap'
import { responseCase } from '../fuzz/http-arbitraries.ts'
import { fieldValues, judge, showBytes, type DifferenceTable } from '../fuzz/differential.ts'
import { fuzzRuns, fuzzSeed } from '../fuzz/fuzz-runs.ts'
import { LlhttpResponseOracle } from '../fuzz/llhttp-response-oracle.ts'
import type { ParseOutcome } from '../fuzz/parse-outcome.ts'
import { EOF_MID_HEAD } from '../fuzz/sluice-request-model.ts'
import { parseResponseWithSluice } from '../fuzz/sluice-response-model.ts'

// Differential fuzzing of H1ResponseParser against llhttp's response mode (issue 13): the same
// bytes are an upstream's answer to Sluice's parser (in-process, cut into reads, then EOF) and to
// node:http's client (a loopback net server writes them and closes). Any difference in what is
// accepted, or in the status, version, headers, body or trailers of an accepted response, fails
// unless a row of ALLOWED names it and says why.
//
// `npm test` runs the seeds and a few thousand generated cases; `npm run fuzz` many more.

const ALLOWED: DifferenceTable = {
  eofMidHead: EOF_MID_HEAD,
  stricter: [
    {
      name: 'status code outside 100-599',
      reason: 'RFC 9110 15: status codes are 100-599 (Go\'s client refuses others too); llhttp takes any three digits',
      sluiceCode: /^bad status line$/,
      when: (wire) => /^(HTTP\/1\.\d (0\d\d|[6-9]\d\d)[ \r])|\r\nHTTP\/1\.\d (0\d\d|[6-9]\d\d)[ \r]/.test(wire),
    },
    {
      name: 'control byte in the reason phrase',
      reason: 'reason-phrase is HTAB, SP, VCHAR and obs-text (RFC 9112 4); llhttp takes other control bytes there',
      sluiceCode: /^bad status line$/,
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the case is about control bytes
      when: (wire) => /(^|\n)HTTP\/[^\r\n]*[\x00-\x08\x0a-\x1f\x7f][^\n]*\r\n/.test(wire),
    },
    {
      name: 'HTTP major version other than 1',
      reason: 'a status line must say HTTP/1.x (Go\'s client refuses others); llhttp takes HTTP/0.9 and HTTP/2.0 lines',
      sluiceCode: /^bad status line$/,
      when: (wire) => /(^|\n)HTTP\/[02-9]\.\d /.test(wire),
    },
    {
      name: 'empty line before the status line',
      reason: 'a response starts with its status line (Go\'s client says "malformed HTTP response"); llhttp skips CR and LF first. RFC 9112 2.2 allows skipping only before a request line',
      sluiceCode: /^bad status line$/,
      when: (wire) => /(^|\r\n\r\n)[\r\n]/.test(wire),
    },
    {
      name: '101 Switching Protocols on a plain request',
      reason: 'H1Upstream never asks to upgrade on this path, so a 101 is a broken upstream; node:http\'s client treats it as an upgrade',
      sluiceCode: /^unexpected 101 Switching Protocols$/,
    },
    {
      name: 'Transfer-Encoding other than one `chunked`',
      reason: 'Go\'s client (Knative\'s activator and queue-proxy) refuses any other coding or a second TE field (502); llhttp reads `x, chunked` as chunked and anything else until close, and we drop TE when relaying, so a coded body would reach the client without its coding',
      sluiceCode: /^unsupported transfer-encoding$/,
    },
    {
      name: 'Transfer-Encoding in the trailers',
      reason: 'RFC 9110 6.5.1: framing fields must not be trailers; llhttp refuses Content-Length there (as we do) but takes Transfer-Encoding in a response\'s trailers (not in a request\'s)',
      sluiceCode: /^framing field in trailers$/,
    },
    {
      name: 'Transfer-Encoding on HTTP/1.0',
      reason: 'RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty; llhttp honours it',
      sluiceCode: /^transfer-encoding in an HTTP\/1\.0 response$/,
    },
    {
      name: 'chunk size of 2^53 or more',
      reason: 'a chunk size must stay a safe integer; llhttp takes up to 2^64-1 and waits for the data',
      sluiceCode: /^chunk size too large$/,
    },
    {
      name: 'Content-Length over 15 digits',
      reason: 'the value must stay a safe integer, so 16+ digits (leading zeros included) are an error; llhttp takes up to 2^64-1',
      sluiceCode: /^invalid content-length$/,
    },
    {
      name: 'chunk extension llhttp lets through',
      reason: 'a chunk extension is `;` token [`=` (token / quoted-string)] (RFC 9112 7.1.1); llhttp also takes an empty name (`;=b`)',
      sluiceCode: /^bad chunk extension$/,
    },
  ],
  lenient: [
    {
      name: 'repeated identical Content-Length',
      reason: 'RFC 9110 8.6 lets a recipient take identical values as one, as Go\'s client does; the length is the same either way',
      llhttpCode: 'HPE_UNEXPECTED_CONTENT_LENGTH',
      applies: (m) => {
        const values = fieldValues(m.rawHeaders, 'content-length')
        return values.length > 1 && values.every((v) => v === values[0]) && fieldValues(m.rawHeaders, 'transfer-encoding').length === 0
      },
    },
    {
      name: 'a 1xx response that would close the connection',
      reason: 'an interim response does not end the exchange: Go\'s client reads on to the final response whatever the 1xx head says; llhttp applies HTTP/1.0\'s (or Connection: close\'s) end of the connection to the 1xx and refuses what follows. The final response is framed on its own',
      llhttpCode: 'HPE_CLOSED_CONNECTION',
      applies: (_m, wire) => interimHeads(wire).some((h) => h.startsWith('HTTP/1.0') || /\r\nconnection:[^\r]*close/i.test(h)),
    },
    {
      name: 'HTTP/1.2 to HTTP/1.9',
      reason: 'RFC 9110 2.5: a higher minor version is read as the highest we implement (Go does the same); llhttp knows 1.0 and 1.1 only. In a skipped 1xx response too',
      llhttpCode: 'HPE_INVALID_VERSION',
      applies: (m, wire) => m.httpMinor > 1 || /(^|\r\n\r\n)HTTP\/1\.[2-9] 1\d\d/.test(wire),
    },
  ],
}

/** The 1xx heads at the start of a response's bytes. */
function interimHeads (wire: string): string[] {
  const heads: string[] = []
  let at = 0
  while (/^HTTP\/\d\.\d 1\d\d/.test(wire.slice(at, at + 12))) {
    const end = wire.indexOf('\r\n\r\n', at)
    if (end < 0) break
    heads.push(wire.slice(at, end + 2))
    at = end + 4
  }
  return heads
}

/** Issue 13's response-side vectors and the published response smuggling / splitting shapes. */
const SEEDS: ReadonlyArray<[string, boolean]> = [
  // issue 13, defect 5: trailers that must not be trailers (parsed here; dropped before relaying)
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nSet-Cookie: a=b\r\nAuthorization: x\r\nHost: evil\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n', false],
  // issue 13, defect 4's shape: a complete response and late bytes
  ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate', false],
  // framing conflicts
  ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\xa0\r\n\r\n5\r\nhello\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nbody until close', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nbody until close', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nConnection: close\xa0\r\nContent-Length: 0\r\n\r\n', false],
  // chunk-size forms
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n', false],
  // line ends and bytes
  ['HTTP/1.1 200 OK\nContent-Length: 2\n\nok', false],
  ['HTTP/1.1 200 OK\r\nX: a\rContent-Length: 2\r\n\r\nok', false],
  ['HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nok', false],
  ['HTTP/1.1 200 OK\r\nX: caf\xe9\r\nContent-Length: 2\r\n\r\nok', false],
  ['HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok', false],
  // statuses and methods
  ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', false],
  ['HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', true],
  ['HTTP/1.0 200 OK\r\n\r\nuntil close', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', false],
]

function checkCase (wire: Buffer, cuts: readonly number[], isHead: boolean, sluice: ParseOutcome, llhttp: ParseOutcome, allowedCounts: Map<string, number>): string | null {
  const verdict = judge(wire.toString('latin1'), sluice, llhttp, ALLOWED)
  if (verdict.allowedBy !== null) allowedCounts.set(verdict.allowedBy, (allowedCounts.get(verdict.allowedBy) ?? 0) + 1)
  if (verdict.failure === null) return null
  return `${verdict.failure}\n  wire ${showBytes(wire)} cuts ${JSON.stringify(cuts)}${isHead ? ' (HEAD)' : ''}\n  sluice ${sluice.ending} ${sluice.code}, llhttp ${llhttp.ending} ${llhttp.code}`
}

t.test('response parser vs llhttp', async (t) => {
  const oracle = new LlhttpResponseOracle()
  await oracle.start()
  t.teardown(() => oracle.close())
  const allowedCounts = new Map<string, number>()

  t.test('seed corpus, at every split point', async (t) => {
    for (const [seed, isHead] of SEEDS) {
      const wire = Buffer.from(seed, 'latin1')
      const llhttp = await oracle.parse(wire, isHead ? 'HEAD' : 'GET')
      const whole = parseResponseWithSluice(wire, [], isHead)
      t.equal(checkCase(wire, [], isHead, whole, llhttp, allowedCounts), null, JSON.stringify(seed))
      for (let cut = 1; cut < wire.length; cut++) {
        const split = parseResponseWithSluice(wire, [cut], isHead)
        if (JSON.stringify(split) !== JSON.stringify(whole)) {
          t.fail(`split at ${cut} differs: ${JSON.stringify(seed)}`)
          break
        }
      }
    }
  })

  t.test('generated responses, valid and hostile', async (t) => {
    const runs = fuzzRuns(3000)
    const started = performance.now()
    let cases = 0
    await fc.assert(fc.asyncProperty(responseCase, async ({ wire, cuts, isHead }) => {
      cases++
      const bytes = Buffer.from(wire, 'latin1')
      const llhttp = await oracle.parse(bytes, isHead ? 'HEAD' : 'GET')
      const failure = checkCase(bytes, cuts, isHead, parseResponseWithSluice(bytes, cuts, isHead), llhttp, allowedCounts)
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

import t from 'tap'
import { headRefusal } from '../../src/server/node-head-check.ts'

// `--http-server node` refuses the heads H1Server refuses and llhttp takes (issue 13, defects 2, 3).
t.test('headRefusal: one valid Host and a plain `chunked` pass; what H1Server refuses is named with its status', async (t) => {
  const cases: Array<[string, string[], string | null]> = [
    ['one Host', ['Host', 'a.example:8080', 'X', 'y'], null],
    ['no Host', ['X', 'y'], null],
    ['IPv6 literal', ['host', '[::1]:80'], null],
    ['two Hosts, identical', ['Host', 'a', 'host', 'a'], '400 too many Host headers'],
    ['two Hosts, different', ['HOST', 'a', 'Host', 'b'], '400 too many Host headers'],
    ['a space in Host', ['Host', 'a b'], '400 malformed Host header'],
    ['a slash in Host', ['Host', 'a/x'], '400 malformed Host header'],
    ['obs-text in Host (latin1)', ['Host', 'caf\u00e9'], '400 malformed Host header'],
    ['beyond latin1 in Host', ['Host', 'a\u0101'], '400 malformed Host header'],
    ['chunked', ['Host', 'a', 'Transfer-Encoding', 'Chunked'], null],
    ['chunked with OWS', ['Host', 'a', 'transfer-encoding', ' chunked\t'], null],
    ['gzip, chunked', ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'], '501 unsupported transfer-encoding'],
    ['chunked + NBSP', ['Host', 'a', 'Transfer-Encoding', 'chunked\u00a0'], '501 unsupported transfer-encoding'],
    ['two Transfer-Encoding fields', ['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'], '501 unsupported transfer-encoding'],
  ]
  for (const [what, raw, want] of cases) {
    const r = headRefusal(raw)
    t.equal(r === null ? null : `${r.status} ${r.message}`, want, what)
  }
})

import t from 'tap'
import { hostRefusal } from '../../src/proxy/node-host-check.ts'

// `--http-server node` refuses the Host fields H1Server refuses (issue 13, defect 2).
t.test('hostRefusal: one valid Host passes; a second one or a byte Go refuses is named', async (t) => {
  const cases: Array<[string, string[], string | null]> = [
    ['one Host', ['Host', 'a.example:8080', 'X', 'y'], null],
    ['no Host', ['X', 'y'], null],
    ['IPv6 literal', ['host', '[::1]:80'], null],
    ['two, identical', ['Host', 'a', 'host', 'a'], 'too many Host headers'],
    ['two, different', ['HOST', 'a', 'Host', 'b'], 'too many Host headers'],
    ['a space', ['Host', 'a b'], 'malformed Host header'],
    ['a slash', ['Host', 'a/x'], 'malformed Host header'],
    ['obs-text (latin1)', ['Host', 'caf\u00e9'], 'malformed Host header'],
    ['beyond latin1', ['Host', 'a\u0101'], 'malformed Host header'],
  ]
  for (const [what, raw, want] of cases) t.equal(hostRefusal(raw), want, what)
})

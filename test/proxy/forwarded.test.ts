// The Forwarded shim against Knative's pkg/queue/forwarded_shim_test.go, case for case (the
// "existing fwd" and "no xf* headers" cases are the caller's: request-headers.test.ts), plus
// the splitting of X-Forwarded-For as Go's consumeNode does it.
import t from 'tap'
import { generateForwarded } from '../../src/proxy/forwarded.ts'

const cases: Array<{ name: string, xff: string, xfh: string, xfp: string, want: string }> = [
  { name: 'multiple xff', xff: '127.0.0.1, ::1', xfh: 'h', xfp: 'p', want: 'for=127.0.0.1;host=h;proto=p, for="[::1]"' },
  { name: 'single xff', xff: '127.0.0.1', xfh: 'h', xfp: 'p', want: 'for=127.0.0.1;host=h;proto=p' },
  { name: 'multiple xff, no xfh, no xfp', xff: '127.0.0.1, ::1', xfh: '', xfp: '', want: 'for=127.0.0.1, for="[::1]"' },
  { name: 'multiple xff, no xfh', xff: '127.0.0.1, ::1', xfh: '', xfp: 'p', want: 'for=127.0.0.1;proto=p, for="[::1]"' },
  { name: 'multiple xff, no xfp', xff: '127.0.0.1, ::1', xfh: 'h', xfp: '', want: 'for=127.0.0.1;host=h, for="[::1]"' },
  { name: 'only xfh', xff: '', xfh: 'h', xfp: '', want: 'host=h' },
  { name: 'only xfp', xff: '', xfh: '', xfp: 'p', want: 'proto=p' },
  { name: 'only xfp and xfh', xff: '', xfh: 'h', xfp: 'p', want: 'host=h;proto=p' },
  { name: 'broken for', xff: ',,,', xfh: '', xfp: '', want: 'for=, for=, for=' },
  // Beyond Knative's table, derived from generateForwarded/consumeNode:
  { name: 'trailing comma: no empty last node', xff: '10.0.0.1,', xfh: '', xfp: '', want: 'for=10.0.0.1' },
  { name: 'empty first node then host', xff: ', 10.0.0.2', xfh: 'h', xfp: '', want: 'for=host=h, for=10.0.0.2' },
  { name: 'spaces and tabs around nodes', xff: ' 10.0.0.1 ,\t10.0.0.2\t', xfh: '', xfp: '', want: 'for=10.0.0.1, for=10.0.0.2' },
  { name: 'an IPv6 node with a zone and port is still bracketed', xff: 'fe80::1%eth0', xfh: '', xfp: 'https', want: 'for="[fe80::1%eth0]";proto=https' },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(generateForwarded(c.xff, c.xfp, c.xfh), c.want)
  })
}

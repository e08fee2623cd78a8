import t from 'tap'
import type { RevisionSpec } from '../../../src/activator/revision-spec.ts'
import {
  endpointProblem, isHostname, MAX_ENDPOINTS, parseRevisionSpec, type ParseRevisionSpecOptions,
} from '../../../src/activator/sources/revision-validation.ts'

function specOf (input: unknown, where = '', opts: ParseRevisionSpecOptions = {}): RevisionSpec {
  const result = parseRevisionSpec(input, where, opts)
  if ('problems' in result) throw new Error(`unexpected problems: ${result.problems.join('; ')}`)
  return result.spec
}

function problemsOf (input: unknown, where = '', opts: ParseRevisionSpecOptions = {}): string[] {
  const result = parseRevisionSpec(input, where, opts)
  return 'problems' in result ? result.problems : []
}

t.test('defaults: namespace default, CC 0, no endpoints/hosts, null timeout and policy', async (t) => {
  t.same(specOf({ name: 'hello' }), {
    namespace: 'default',
    name: 'hello',
    containerConcurrency: 0,
    endpoints: [],
    hosts: [],
    timeoutSeconds: null,
    lbPolicy: null,
  })
})

t.test('accepts every field and freezes the result', async (t) => {
  const spec = specOf({
    name: 'hello-00001',
    namespace: 'team-a',
    containerConcurrency: 2,
    endpoints: ['127.0.0.1:8012', '[::1]:8013', 'pod-1.default.svc:8012'],
    hosts: ['Hello.Local', 'api.example.com.'],
    timeoutSeconds: 300,
    lbPolicy: 'round-robin',
  })
  t.same(spec, {
    namespace: 'team-a',
    name: 'hello-00001',
    containerConcurrency: 2,
    endpoints: ['127.0.0.1:8012', '[::1]:8013', 'pod-1.default.svc:8012'],
    hosts: ['hello.local', 'api.example.com'],
    timeoutSeconds: 300,
    lbPolicy: 'round-robin',
  })
  t.ok(Object.isFrozen(spec))
  t.ok(Object.isFrozen(spec.endpoints))
  t.ok(Object.isFrozen(spec.hosts))
  t.same(Object.keys(spec), ['namespace', 'name', 'containerConcurrency', 'endpoints', 'hosts', 'timeoutSeconds', 'lbPolicy'], 'fixed field order')
})

t.test('null counts as absent', async (t) => {
  t.same(specOf({ name: 'a', namespace: null, containerConcurrency: null, endpoints: null, hosts: null, timeoutSeconds: null, lbPolicy: null }),
    { namespace: 'default', name: 'a', containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null })
})

t.test('valid values per field', async (t) => {
  const cases: Array<{ field: string, value: unknown, want: unknown }> = [
    { field: 'name', value: 'a', want: 'a' },
    { field: 'name', value: '0abc-def9', want: '0abc-def9' },
    { field: 'name', value: 'a'.repeat(63), want: 'a'.repeat(63) },
    { field: 'namespace', value: 'kube-system', want: 'kube-system' },
    { field: 'containerConcurrency', value: 0, want: 0 },
    { field: 'containerConcurrency', value: 1000, want: 1000 },
    { field: 'containerConcurrency', value: 2.0, want: 2 },
    { field: 'containerConcurrency', value: 2147483647, want: 2147483647 },
    { field: 'endpoints', value: [], want: [] },
    { field: 'endpoints', value: ['10.0.0.1:1', '10.0.0.1:65535'], want: ['10.0.0.1:1', '10.0.0.1:65535'] },
    { field: 'endpoints', value: ['[2001:db8::1]:8012'], want: ['[2001:db8::1]:8012'] },
    { field: 'endpoints', value: ['localhost:8012'], want: ['localhost:8012'] },
    { field: 'notReadyEndpoints', value: ['10.0.0.2:8012'], want: ['10.0.0.2:8012'] },
    { field: 'notReadyEndpoints', value: [], want: undefined },
    { field: 'hosts', value: [], want: [] },
    { field: 'hosts', value: ['hello.default.example.com'], want: ['hello.default.example.com'] },
    { field: 'hosts', value: ['10.1.2.3'], want: ['10.1.2.3'] },
    { field: 'timeoutSeconds', value: 1, want: 1 },
    { field: 'timeoutSeconds', value: 2147483, want: 2147483 },
    { field: 'lbPolicy', value: 'random-choice-2', want: 'random-choice-2' },
    { field: 'lbPolicy', value: 'first-available', want: 'first-available' },
    { field: 'lbPolicy', value: 'round-robin', want: 'round-robin' },
  ]
  for (const c of cases) {
    const input: Record<string, unknown> = { name: 'rev', [c.field]: c.value }
    const spec: Record<string, unknown> = { ...specOf(input) }
    t.same(spec[c.field], c.want, `${c.field} = ${JSON.stringify(c.value)}`)
  }
})

t.test('invalid values name the field exactly', async (t) => {
  const cases: Array<{ input: Record<string, unknown>, want: string[] }> = [
    { input: {}, want: ['name: required'] },
    { input: { name: '' }, want: ['name: must not be empty'] },
    { input: { name: 42 }, want: ['name: expected a string, got number 42'] },
    { input: { name: 'Hello' }, want: [`name: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "Hello"`] },
    { input: { name: '-a' }, want: [/^name: must be a DNS-1123 label .*got "-a"$/.source] },
    { input: { name: 'a-' }, want: [/^name: must be a DNS-1123 label .*got "a-"$/.source] },
    { input: { name: 'a.b' }, want: [/^name: must be a DNS-1123 label .*got "a.b"$/.source] },
    { input: { name: 'a'.repeat(64) }, want: [/^name: must be a DNS-1123 label/.source] },
    { input: { name: 'a', namespace: 'My_NS' }, want: [/^namespace: must be a DNS-1123 label .*got "My_NS"$/.source] },
    { input: { name: 'a', namespace: ['x'] }, want: ['namespace: expected a string, got a list'] },
    { input: { name: 'a', containerConcurrency: -1 }, want: ['containerConcurrency: must be an integer >= 0 (at most 2147483647), got -1'] },
    { input: { name: 'a', containerConcurrency: 1.5 }, want: ['containerConcurrency: must be an integer >= 0 (at most 2147483647), got 1.5'] },
    { input: { name: 'a', containerConcurrency: '2' }, want: ['containerConcurrency: must be an integer >= 0 (at most 2147483647), got "2"'] },
    { input: { name: 'a', containerConcurrency: 2147483648 }, want: ['containerConcurrency: must be an integer >= 0 (at most 2147483647), got 2147483648'] },
    { input: { name: 'a', endpoints: '127.0.0.1:8012' }, want: ['endpoints: expected a list of "host:port" strings, got string "127.0.0.1:8012"'] },
    { input: { name: 'a', endpoints: ['127.0.0.1:8012', 'foo'] }, want: ['endpoints[1]: "foo" is not host:port'] },
    { input: { name: 'a', endpoints: [8012] }, want: ['endpoints[0]: expected a "host:port" string, got number 8012'] },
    { input: { name: 'a', endpoints: ['::1:8012'] }, want: ['endpoints[0]: "::1:8012" is not host:port (write IPv6 addresses in brackets: [::1]:8012)'] },
    { input: { name: 'a', endpoints: ['[::1]8012'] }, want: ['endpoints[0]: "[::1]8012" is not host:port'] },
    { input: { name: 'a', endpoints: ['[zz::1]:8012'] }, want: ['endpoints[0]: "[zz::1]:8012" is not host:port ("zz::1" is not an IPv6 address)'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:0'] }, want: ['endpoints[0]: "1.2.3.4:0": port must be in 1..65535, got 0'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:65536'] }, want: ['endpoints[0]: "1.2.3.4:65536": port must be in 1..65535, got 65536'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:'] }, want: ['endpoints[0]: "1.2.3.4:" is not host:port (port "" is not a number)'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:+80'] }, want: ['endpoints[0]: "1.2.3.4:+80" is not host:port (port "+80" is not a number)'] },
    { input: { name: 'a', endpoints: ['http://x:80'] }, want: ['endpoints[0]: "http://x:80" is not host:port'] },
    { input: { name: 'a', endpoints: ['a b:80'] }, want: ['endpoints[0]: "a b:80" is not host:port ("a b" is not a host name or IP address)'] },
    { input: { name: 'a', endpoints: [':80'] }, want: ['endpoints[0]: ":80" is not host:port ("" is not a host name or IP address)'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:80', '1.2.3.4:80'] }, want: ['endpoints[1]: "1.2.3.4:80" duplicates endpoints[0]'] },
    { input: { name: 'a', notReadyEndpoints: ['foo'] }, want: ['notReadyEndpoints[0]: "foo" is not host:port'] },
    { input: { name: 'a', endpoints: ['1.2.3.4:80'], notReadyEndpoints: ['1.2.3.4:80'] }, want: ['notReadyEndpoints[0]: "1.2.3.4:80" is in endpoints too'] },
    { input: { name: 'a', hosts: 'a.local' }, want: ['hosts: expected a list of host names, got string "a.local"'] },
    { input: { name: 'a', hosts: [1] }, want: ['hosts[0]: expected a host name string, got number 1'] },
    { input: { name: 'a', hosts: ['a.local:80'] }, want: ['hosts[0]: "a.local:80" is not a host name (no scheme, port or path)'] },
    { input: { name: 'a', hosts: ['http://a.local'] }, want: ['hosts[0]: "http://a.local" is not a host name (no scheme, port or path)'] },
    { input: { name: 'a', hosts: ['a..b'] }, want: ['hosts[0]: "a..b" is not a host name (no scheme, port or path)'] },
    { input: { name: 'a', hosts: ['A.local', 'a.local.'] }, want: ['hosts[1]: "a.local." duplicates hosts[0]'] },
    { input: { name: 'a', timeoutSeconds: 0 }, want: ['timeoutSeconds: must be an integer >= 1 (at most 2147483), got 0'] },
    { input: { name: 'a', timeoutSeconds: 1.5 }, want: ['timeoutSeconds: must be an integer >= 1 (at most 2147483), got 1.5'] },
    { input: { name: 'a', timeoutSeconds: '300' }, want: ['timeoutSeconds: must be an integer >= 1 (at most 2147483), got "300"'] },
    { input: { name: 'a', timeoutSeconds: 2147484 }, want: ['timeoutSeconds: must be an integer >= 1 (at most 2147483), got 2147484'] },
    { input: { name: 'a', lbPolicy: 'least-conn' }, want: ['lbPolicy: must be one of random-choice-2, first-available, round-robin, got "least-conn"'] },
    { input: { name: 'a', lbPolicy: 3 }, want: ['lbPolicy: must be one of random-choice-2, first-available, round-robin, got 3'] },
    { input: { name: 'a', containerConcurency: 2 }, want: ['containerConcurency: unknown field'] },
  ]
  for (const c of cases) {
    const got = problemsOf(c.input)
    t.equal(got.length, c.want.length, `${JSON.stringify(c.input)} -> ${got.join(' | ')}`)
    for (let i = 0; i < c.want.length; i++) {
      const want = c.want[i]
      if (want.startsWith('^')) t.match(got[i], new RegExp(want), JSON.stringify(c.input))
      else t.equal(got[i], want, JSON.stringify(c.input))
    }
  }
})

t.test('responseStartTimeoutSeconds and idleTimeoutSeconds: integers >= 0 (0 = off), present only when given', async (t) => {
  const spec = specOf({ name: 'a', responseStartTimeoutSeconds: 30, idleTimeoutSeconds: 0 })
  t.equal(spec.responseStartTimeoutSeconds, 30)
  t.equal(spec.idleTimeoutSeconds, 0)
  t.notOk('responseStartTimeoutSeconds' in specOf({ name: 'a' }), 'absent: not in the spec')
  t.notOk('idleTimeoutSeconds' in specOf({ name: 'a', idleTimeoutSeconds: null }), 'null counts as absent')
  t.match(problemsOf({ name: 'a', responseStartTimeoutSeconds: -1 }), [/^responseStartTimeoutSeconds: must be an integer >= 0 .*got -1$/])
  t.match(problemsOf({ name: 'a', idleTimeoutSeconds: '5' }), [/^idleTimeoutSeconds: must be an integer >= 0 .*got "5"$/])
  t.match(problemsOf({ name: 'a', idleTimeoutSeconds: 2.5 }), [/^idleTimeoutSeconds: must be an integer >= 0/])
})

t.test('not an object', async (t) => {
  t.same(problemsOf(null), ['revision: expected an object, got null'])
  t.same(problemsOf([1], 'revisions[3]'), ['revisions[3]: expected an object, got a list'])
  t.same(problemsOf('x', 'revisions[0]'), ['revisions[0]: expected an object, got string "x"'])
})

t.test('where prefixes every field name, and every problem is reported', async (t) => {
  t.same(problemsOf({ name: 'BAD', containerConcurrency: -1, endpoints: ['ok:1', 'nope'], extra: true }, 'revisions[2]'), [
    'revisions[2].extra: unknown field',
    `revisions[2].name: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "BAD"`,
    'revisions[2].containerConcurrency: must be an integer >= 0 (at most 2147483647), got -1',
    'revisions[2].endpoints[1]: "nope" is not host:port',
  ])
})

t.test('endpoints required when asked (the admin API)', async (t) => {
  t.same(problemsOf({ name: 'a' }, '', { endpointsRequired: true }), ['endpoints: required (a list of "host:port" sidecar addresses; [] when scaled to zero)'])
  t.same(specOf({ name: 'a', endpoints: [] }, '', { endpointsRequired: true }).endpoints, [])
})

t.test('endpoint list is bounded', async (t) => {
  const endpoints = Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => `10.0.${i >> 8}.${i & 255}:8012`)
  t.same(problemsOf({ name: 'a', endpoints }), [`endpoints: at most ${MAX_ENDPOINTS} endpoints, got ${MAX_ENDPOINTS + 1}`])
})

t.test('endpointProblem and isHostname', async (t) => {
  t.equal(endpointProblem('127.0.0.1:8012'), null)
  t.equal(endpointProblem('[fe80::1]:1'), null)
  t.equal(endpointProblem('a-b.c:443'), null)
  t.not(endpointProblem('a_b:443'), null)
  t.ok(isHostname('a.b.c'))
  t.ok(isHostname('a.b.c.'))
  t.notOk(isHostname(''))
  t.notOk(isHostname('a'.repeat(64)))
  t.notOk(isHostname(`${'a.'.repeat(127)}ab`), 'over 253 characters')
  t.notOk(isHostname('-a.b'))
})

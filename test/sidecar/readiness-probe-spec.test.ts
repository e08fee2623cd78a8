import t from 'tap'
import { parseReadinessProbe, type ProbeSpec } from '../../src/sidecar/readiness-probe-spec.ts'

const single = { userPort: 8080, multiContainer: false }
const multi = { userPort: 8080, multiContainer: true }

function specsOf (raw: string, opts = single): ProbeSpec[] {
  const result = parseReadinessProbe(raw, opts)
  if ('problems' in result) throw new Error(`unexpected problems: ${result.problems.join('; ')}`)
  return result.specs
}

function problemsOf (raw: string, opts = single): string[] {
  const result = parseReadinessProbe(raw, opts)
  return 'problems' in result ? result.problems : []
}

const timingDefaults = { timeoutMs: 1000, periodMs: 0, successThreshold: 1, failureThreshold: 3 }

t.test('empty or blank value means no probe (always ready)', async (t) => {
  t.same(parseReadinessProbe('', single), { specs: [] })
  t.same(parseReadinessProbe('  \n', multi), { specs: [] })
})

t.test('parses every field', async (t) => {
  const cases: Array<{ name: string, raw: unknown, opts?: typeof single, want: ProbeSpec[] }> = [
    {
      name: 'Knative default: tcpSocket with no port -> user port, host 127.0.0.1, aggressive',
      raw: { tcpSocket: { port: 0 }, successThreshold: 1 },
      want: [{ kind: 'tcp', host: '127.0.0.1', port: 8080, ...timingDefaults }],
    },
    {
      name: 'tcpSocket with int port and host',
      raw: { tcpSocket: { port: 9000, host: 'localhost' } },
      want: [{ kind: 'tcp', host: 'localhost', port: 9000, ...timingDefaults }],
    },
    {
      name: 'tcpSocket with string port, empty host',
      raw: { tcpSocket: { port: '9001', host: '' } },
      want: [{ kind: 'tcp', host: '127.0.0.1', port: 9001, ...timingDefaults }],
    },
    {
      name: 'tcpSocket with missing port',
      raw: { tcpSocket: {} },
      want: [{ kind: 'tcp', host: '127.0.0.1', port: 8080, ...timingDefaults }],
    },
    {
      name: 'httpGet with every field',
      raw: {
        httpGet: {
          path: 'healthz',
          port: 8081,
          host: '127.0.0.1',
          scheme: 'HTTPS',
          httpHeaders: [{ name: 'X-A', value: '1' }, { name: 'X-A', value: '2' }, { name: 'X-Empty' }],
        },
        timeoutSeconds: 3,
        periodSeconds: 5,
        successThreshold: 2,
        failureThreshold: 7,
      },
      want: [{
        kind: 'http',
        scheme: 'https',
        host: '127.0.0.1',
        port: 8081,
        path: '/healthz',
        headers: [{ name: 'X-A', value: '1' }, { name: 'X-A', value: '2' }, { name: 'X-Empty', value: '' }],
        timeoutMs: 3000,
        periodMs: 5000,
        successThreshold: 2,
        failureThreshold: 7,
      }],
    },
    {
      name: 'httpGet defaults: scheme http, path /, user port',
      raw: { httpGet: {} },
      want: [{ kind: 'http', scheme: 'http', host: '127.0.0.1', port: 8080, path: '/', headers: [], ...timingDefaults }],
    },
    {
      name: 'httpGet lower-case scheme and absolute path kept',
      raw: { httpGet: { scheme: 'http', path: '/ready?x=1', port: '8082' }, periodSeconds: 1, timeoutSeconds: 0 },
      want: [{ kind: 'http', scheme: 'http', host: '127.0.0.1', port: 8082, path: '/ready?x=1', headers: [], ...timingDefaults, periodMs: 1000 }],
    },
    {
      name: 'grpc with service; host is always 127.0.0.1',
      raw: { grpc: { port: 50051, service: 'my.Svc' }, periodSeconds: 2, timeoutSeconds: 2 },
      want: [{ kind: 'grpc', host: '127.0.0.1', port: 50051, service: 'my.Svc', ...timingDefaults, periodMs: 2000, timeoutMs: 2000 }],
    },
    {
      name: 'grpc without service or port',
      raw: { grpc: {} },
      want: [{ kind: 'grpc', host: '127.0.0.1', port: 8080, service: '', ...timingDefaults }],
    },
    {
      name: 'unknown fields and null handlers are ignored',
      raw: { tcpSocket: { port: 1 }, httpGet: null, initialDelaySeconds: 4, terminationGracePeriodSeconds: 3 },
      want: [{ kind: 'tcp', host: '127.0.0.1', port: 1, ...timingDefaults }],
    },
    {
      name: 'multi-container array',
      raw: [{ tcpSocket: { port: 8080 } }, { httpGet: { port: 8090, path: '/x' }, periodSeconds: 1 }],
      opts: multi,
      want: [
        { kind: 'tcp', host: '127.0.0.1', port: 8080, ...timingDefaults },
        { kind: 'http', scheme: 'http', host: '127.0.0.1', port: 8090, path: '/x', headers: [], ...timingDefaults, periodMs: 1000 },
      ],
    },
  ]
  for (const c of cases) {
    t.same(specsOf(JSON.stringify(c.raw), c.opts ?? single), c.want, c.name)
  }
})

t.test('reports every problem, one readable line each', async (t) => {
  const cases: Array<{ name: string, raw: string, opts?: typeof single, want: string[] }> = [
    { name: 'invalid JSON', raw: '{tcp', want: [/^SERVING_READINESS_PROBE: invalid JSON: .+/.source] },
    { name: 'exec', raw: '{"exec":{"command":["true"]}}', want: ['SERVING_READINESS_PROBE: exec probe not supported'] },
    { name: 'no handler', raw: '{"periodSeconds":1}', want: ['SERVING_READINESS_PROBE: no probe handler: expected one of httpGet, tcpSocket, grpc'] },
    { name: 'two handlers', raw: '{"httpGet":{},"tcpSocket":{}}', want: ['SERVING_READINESS_PROBE: expected exactly one probe handler, got httpGet, tcpSocket'] },
    { name: 'null', raw: 'null', want: ['SERVING_READINESS_PROBE: expected a JSON object (a Kubernetes Probe), got null'] },
    { name: 'array when single', raw: '[]', want: ['SERVING_READINESS_PROBE: expected a JSON object (a Kubernetes Probe), got an array'] },
    { name: 'object when multi', raw: '{"tcpSocket":{}}', opts: multi, want: ['SERVING_READINESS_PROBE: expected a JSON array of probes (ENABLE_MULTI_CONTAINER_PROBES is on), got an object'] },
    { name: 'empty array when multi', raw: '[]', opts: multi, want: ['SERVING_READINESS_PROBE: expected at least one probe in the array'] },
    {
      name: 'multi: problems name the index',
      raw: '[{"tcpSocket":{}},{"exec":{}},"x"]',
      opts: multi,
      want: ['SERVING_READINESS_PROBE[1]: exec probe not supported', 'SERVING_READINESS_PROBE[2]: expected a JSON object (a Kubernetes Probe), got string "x"'],
    },
    { name: 'handler not an object', raw: '{"tcpSocket":5}', want: ['SERVING_READINESS_PROBE.tcpSocket: expected an object, got number 5'] },
    { name: 'httpGet not an object', raw: '{"httpGet":[]}', want: ['SERVING_READINESS_PROBE.httpGet: expected an object, got an array'] },
    { name: 'grpc not an object', raw: '{"grpc":"x"}', want: ['SERVING_READINESS_PROBE.grpc: expected an object, got string "x"'] },
    { name: 'named port', raw: '{"tcpSocket":{"port":"http"}}', want: ['SERVING_READINESS_PROBE.tcpSocket.port: named ports are not supported (Knative re-targets probes at a port number), got "http"'] },
    { name: 'port out of range', raw: '{"httpGet":{"port":70000}}', want: ['SERVING_READINESS_PROBE.httpGet.port: must be an integer in 1..65535, got 70000'] },
    { name: 'negative port', raw: '{"tcpSocket":{"port":-1}}', want: ['SERVING_READINESS_PROBE.tcpSocket.port: must be an integer in 1..65535, got -1'] },
    { name: 'fractional port', raw: '{"grpc":{"port":80.5}}', want: ['SERVING_READINESS_PROBE.grpc.port: must be an integer in 1..65535, got 80.5'] },
    { name: 'port wrong type', raw: '{"tcpSocket":{"port":true}}', want: ['SERVING_READINESS_PROBE.tcpSocket.port: expected an integer or a string, got boolean true'] },
    { name: 'host wrong type', raw: '{"tcpSocket":{"host":1}}', want: ['SERVING_READINESS_PROBE.tcpSocket.host: expected a string, got number 1'] },
    { name: 'host with space', raw: '{"httpGet":{"host":"a b"}}', want: ['SERVING_READINESS_PROBE.httpGet.host: not a valid host name or IP: "a b"'] },
    { name: 'bad scheme', raw: '{"httpGet":{"scheme":"ftp"}}', want: ['SERVING_READINESS_PROBE.httpGet.scheme: expected HTTP or HTTPS, got "ftp"'] },
    { name: 'path with space', raw: '{"httpGet":{"path":"/a b"}}', want: ['SERVING_READINESS_PROBE.httpGet.path: must be printable ASCII without spaces (percent-encode the rest), got "/a b"'] },
    { name: 'path wrong type', raw: '{"httpGet":{"path":1}}', want: ['SERVING_READINESS_PROBE.httpGet.path: expected a string, got number 1'] },
    { name: 'headers not an array', raw: '{"httpGet":{"httpHeaders":{}}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders: expected an array of {name, value}, got an object'] },
    { name: 'header not an object', raw: '{"httpGet":{"httpHeaders":["X: y"]}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders[0]: expected an object {name, value}, got string "X: y"'] },
    { name: 'header without name', raw: '{"httpGet":{"httpHeaders":[{"value":"v"}]}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders[0].name: required'] },
    { name: 'header bad name', raw: '{"httpGet":{"httpHeaders":[{"name":"X Y","value":"v"}]}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders[0].name: not a valid HTTP header name: "X Y"'] },
    { name: 'header bad value', raw: '{"httpGet":{"httpHeaders":[{"name":"X","value":"a\\r\\nb"}]}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders[0].value: contains control characters: "a\\r\\nb"'] },
    { name: 'header value wrong type', raw: '{"httpGet":{"httpHeaders":[{"name":"X","value":1}]}}', want: ['SERVING_READINESS_PROBE.httpGet.httpHeaders[0].value: expected a string, got number 1'] },
    { name: 'grpc service wrong type', raw: '{"grpc":{"service":1}}', want: ['SERVING_READINESS_PROBE.grpc.service: expected a string, got number 1'] },
    { name: 'timeoutSeconds', raw: '{"tcpSocket":{},"timeoutSeconds":-1}', want: ['SERVING_READINESS_PROBE.timeoutSeconds: must be an integer >= 0, got -1'] },
    { name: 'periodSeconds', raw: '{"tcpSocket":{},"periodSeconds":"1"}', want: ['SERVING_READINESS_PROBE.periodSeconds: must be an integer >= 0, got "1"'] },
    { name: 'successThreshold', raw: '{"tcpSocket":{},"successThreshold":1.5}', want: ['SERVING_READINESS_PROBE.successThreshold: must be an integer >= 0, got 1.5'] },
    { name: 'failureThreshold', raw: '{"tcpSocket":{},"failureThreshold":false}', want: ['SERVING_READINESS_PROBE.failureThreshold: must be an integer >= 0, got false'] },
    {
      name: 'several problems in one probe',
      raw: '{"httpGet":{"port":"x","scheme":"ftp"},"periodSeconds":-2}',
      want: [
        'SERVING_READINESS_PROBE.periodSeconds: must be an integer >= 0, got -2',
        'SERVING_READINESS_PROBE.httpGet.port: named ports are not supported (Knative re-targets probes at a port number), got "x"',
        'SERVING_READINESS_PROBE.httpGet.scheme: expected HTTP or HTTPS, got "ftp"',
      ],
    },
  ]
  for (const c of cases) {
    const got = problemsOf(c.raw, c.opts ?? single)
    if (c.name === 'invalid JSON') {
      t.equal(got.length, 1, c.name)
      t.match(got[0], new RegExp(c.want[0] ?? ''), c.name)
    } else {
      t.same(got, c.want, c.name)
    }
    for (const line of got) t.notMatch(line, /\n/, `${c.name}: one line`)
  }
})

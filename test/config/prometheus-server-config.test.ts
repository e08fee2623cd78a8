import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { parseOptions } from '../../src/config/options.ts'
import { PROMETHEUS_SERVER_OPTIONS, prometheusServerOf } from '../../src/config/prometheus-server-config.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'

// knative/pkg observability/metrics/prometheus NewServer + validate(): the env over the metrics
// endpoint, and each check with its words (server_test.go's cases among them).

function resolve (env: Record<string, string>, endpoint = '', defaultPort = 9091): { server: ReturnType<typeof prometheusServerOf>, problems: string[] } {
  const parsed = parseOptions(PROMETHEUS_SERVER_OPTIONS, [], env)
  const problems: string[] = [...parsed.problems]
  return { server: prometheusServerOf(parsed.values, endpoint, defaultPort, problems), problems }
}

t.test('the endpoint gives host and port, METRICS_PROMETHEUS_HOST/PORT win when non-empty, the mode\'s port otherwise', async (t) => {
  t.same(resolve({}).server, { host: '', port: 9091, tls: null }, 'queue-proxy: :9091')
  t.same(resolve({}, '', 9090).server, { host: '', port: 9090, tls: null }, 'activator: knative/pkg\'s 9090')
  t.same(resolve({}, '127.0.0.1:9300').server, { host: '127.0.0.1', port: 9300, tls: null })
  t.same(resolve({}, '[::1]:9300').server, { host: '::1', port: 9300, tls: null })
  t.same(resolve({ METRICS_PROMETHEUS_PORT: '9400' }, '127.0.0.1:9300').server, { host: '127.0.0.1', port: 9400, tls: null })
  t.same(resolve({ METRICS_PROMETHEUS_HOST: '::1' }, '127.0.0.1:9300').server, { host: '::1', port: 9300, tls: null })
  t.same(resolve({ METRICS_PROMETHEUS_PORT: '', METRICS_PROMETHEUS_HOST: '' }, '127.0.0.1:9300').server, { host: '127.0.0.1', port: 9300, tls: null }, 'empty = unset (envOverride)')
  t.same(resolve({ METRICS_PROMETHEUS_PORT: '09091' }).server?.port, 9091, 'ParseUint takes leading zeros')
})

t.test('ports as validate() checks them', async (t) => {
  const cases: Array<[string, string]> = [
    ['80', 'prometheus port 80, should be between 1024 and 65535'],
    ['1023', 'prometheus port 1023, should be between 1024 and 65535'],
    ['65536', 'prometheus port "65536" could not be parsed as a port number: strconv.ParseUint: parsing "65536": value out of range'],
    ['1000000', 'prometheus port "1000000" could not be parsed as a port number: strconv.ParseUint: parsing "1000000": value out of range'],
    ['http', 'prometheus port "http" could not be parsed as a port number: strconv.ParseUint: parsing "http": invalid syntax'],
    ['-9091', 'prometheus port "-9091" could not be parsed as a port number: strconv.ParseUint: parsing "-9091": invalid syntax'],
    [' 9091', 'prometheus port " 9091" could not be parsed as a port number: strconv.ParseUint: parsing " 9091": invalid syntax'],
  ]
  for (const [port, msg] of cases) {
    const r = resolve({ METRICS_PROMETHEUS_PORT: port })
    t.equal(r.server, null, port)
    t.same(r.problems, [`config: create prometheus metrics server: ${msg}`], port)
  }
  t.same(resolve({}, ':').problems, ['config: create prometheus metrics server: prometheus port "" could not be parsed as a port number: strconv.ParseUint: parsing "": invalid syntax'], 'an endpoint with an empty port, as Go')
  t.equal(resolve({ METRICS_PROMETHEUS_PORT: '1024' }).server?.port, 1024)
  t.equal(resolve({ METRICS_PROMETHEUS_PORT: '65535' }).server?.port, 65535)
})

t.test('TLS: both files or neither, client auth values, a CA only with optional/require and TLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prom-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const ca = join(dir, 'ca.crt')
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
  const notPem = join(dir, 'not.pem')
  writeFileSync(notPem, 'hello\n')
  const files = { METRICS_PROMETHEUS_TLS_CERT: '/c.crt', METRICS_PROMETHEUS_TLS_KEY: '/c.key' }
  const cases: Array<[Record<string, string>, string]> = [
    [{ METRICS_PROMETHEUS_TLS_CERT: '/c.crt' }, 'both METRICS_PROMETHEUS_TLS_CERT and METRICS_PROMETHEUS_TLS_KEY must be set or neither'],
    [{ METRICS_PROMETHEUS_TLS_KEY: '/c.key' }, 'both METRICS_PROMETHEUS_TLS_CERT and METRICS_PROMETHEUS_TLS_KEY must be set or neither'],
    [{ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'always' }, 'invalid METRICS_PROMETHEUS_TLS_CLIENT_AUTH "always": must be "none", "optional", or "require"'],
    [{ METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'require' }, 'METRICS_PROMETHEUS_TLS_CLIENT_AUTH and METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE require TLS to be enabled (METRICS_PROMETHEUS_TLS_CERT and METRICS_PROMETHEUS_TLS_KEY must be set)'],
    [{ METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: ca }, 'METRICS_PROMETHEUS_TLS_CLIENT_AUTH and METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE require TLS to be enabled (METRICS_PROMETHEUS_TLS_CERT and METRICS_PROMETHEUS_TLS_KEY must be set)'],
    [{ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'Require' }, 'METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE must be set when METRICS_PROMETHEUS_TLS_CLIENT_AUTH is "require" (client certs cannot be validated without a CA)'],
    [{ ...files, METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: ca }, 'METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE is set but METRICS_PROMETHEUS_TLS_CLIENT_AUTH is ""; set METRICS_PROMETHEUS_TLS_CLIENT_AUTH to "optional" or "require" to use client certificate verification'],
    [{ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'optional', METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: join(dir, 'missing.crt') }, `reading METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: ENOENT: no such file or directory, open '${join(dir, 'missing.crt')}'`],
    [{ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'optional', METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: notPem }, 'no valid CA certificates found in METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE'],
  ]
  for (const [env, msg] of cases) {
    const r = resolve(env)
    t.equal(r.server, null, JSON.stringify(env))
    t.same(r.problems, [`config: create prometheus metrics server: ${msg}`], JSON.stringify(env))
  }
  const tlsOnly = resolve({ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: ' NONE ' })
  t.same(tlsOnly.problems, [])
  t.match(tlsOnly.server, { tls: { certFile: '/c.crt', keyFile: '/c.key', clientAuth: 'none', clientCa: null, settings: { minVersion: 'TLSv1.3' } } }, 'DefaultConfigFromEnv: TLS 1.3 minimum')
  const mtls = resolve({ ...files, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: 'require', METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: ` ${ca} `, METRICS_PROMETHEUS_TLS_MIN_VERSION: '1.2' })
  t.same(mtls.problems, [])
  t.equal(mtls.server?.tls?.clientAuth, 'require')
  t.equal(mtls.server?.tls?.settings.minVersion, 'TLSv1.2')
  t.match(mtls.server?.tls?.clientCa?.toString(), /BEGIN CERTIFICATE/)
  const badVersion = resolve({ ...files, METRICS_PROMETHEUS_TLS_MIN_VERSION: '1.1' })
  t.equal(badVersion.server, null)
  t.match(badVersion.problems.join('\n'), /METRICS_PROMETHEUS_TLS_MIN_VERSION/, 'the TLS env is named with its prefix')
  t.same(resolve({ METRICS_PROMETHEUS_TLS_MIN_VERSION: '1.1' }).problems, [], 'TLS versions are read only with TLS on (as DefaultConfigFromEnv is called)')
})

t.test('both modes: read only with the prometheus protocol; a clash with another port is a config error', async (t) => {
  const prom = (endpoint: string): string => JSON.stringify({ requestMetrics: { protocol: 'prometheus', endpoint } })
  const off = loadSidecarConfig([], { METRICS_PROMETHEUS_PORT: 'x' })
  t.same(off.problems, [], 'no prometheus protocol: the env is not looked at')
  t.equal(off.config?.prometheusServer, null)
  const side = loadSidecarConfig([], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9300' })
  t.same(side.problems, [])
  t.same(side.config?.prometheusServer, { host: '', port: 9300, tls: null })
  t.same(loadSidecarConfig([], { OBSERVABILITY_CONFIG: prom('') }).config?.prometheusServer, { host: '', port: 9091, tls: null }, 'queue-proxy\'s :9091')
  const clash = loadSidecarConfig([], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9090' })
  t.same(clash.problems, ['config: request metrics over prometheus listen on port 9090, which --metrics-port also uses: set the metrics endpoint or METRICS_PROMETHEUS_PORT to another port'])
  const bad = loadSidecarConfig([], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '80' })
  t.equal(bad.config, null)
  t.same(bad.problems, ['config: create prometheus metrics server: prometheus port 80, should be between 1024 and 65535'])

  const act = loadActivatorConfig([], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9300' })
  t.same(act.problems, [])
  t.same(act.config?.prometheusServer, { host: '', port: 9300, tls: null })
  const actClash = loadActivatorConfig([], { OBSERVABILITY_CONFIG: prom('') })
  t.match(actClash.problems.join('\n'), /listen on port 9090 .*which --metrics-port also uses/, 'knative/pkg\'s 9090 is the activator\'s metrics port too')
  t.same(loadActivatorConfig([], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9091' }).problems, [], 'METRICS_PROMETHEUS_PORT moves it off')
  t.match(loadActivatorConfig(['--admin-port', '9300'], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9300' }).problems,
    [/listen on port 9300 .*which --admin-port also uses/], 'every port of the activator is checked, not only --metrics-port')
  t.same(loadSidecarConfig(['--admin-port', '0'], { OBSERVABILITY_CONFIG: prom(''), METRICS_PROMETHEUS_PORT: '9300' }).problems, [], 'a port of 0 (any free port) is no clash')
})

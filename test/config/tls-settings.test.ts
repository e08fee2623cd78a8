import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { parseTlsSettings, type TlsSettingsInput } from '../../src/config/tls-settings.ts'
import { childEnv } from '../helpers/sidecar-fixture.ts'

const TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256'
const NONE: TlsSettingsInput = { minVersion: '', maxVersion: '', cipherSuites: '', curvePreferences: '' }

function parse (input: Partial<TlsSettingsInput>): { settings: ReturnType<typeof parseTlsSettings>; problems: string[] } {
  const problems: string[] = []
  return { settings: parseTlsSettings({ ...NONE, ...input }, problems), problems }
}

t.test('defaults are Knative\'s: TLS 1.3 minimum, Go\'s default TLS 1.2 suites, Node\'s curves', async (t) => {
  const { settings, problems } = parse({})
  t.same(problems, [])
  t.equal(settings.minVersion, 'TLSv1.3')
  t.equal(settings.maxVersion, null)
  t.equal(settings.ecdhCurve, null)
  t.match(settings.ciphers, /^ECDHE-ECDSA-AES128-GCM-SHA256:/)
  t.ok(settings.ciphers.endsWith(TLS13), 'TLS 1.3 suites always on')
  t.notMatch(settings.ciphers, /(^|:)(DHE|AES)/, 'no suites Go leaves out (DHE, RSA key exchange)')
})

t.test('Go names map to OpenSSL names', async (t) => {
  const cases: Array<[Partial<TlsSettingsInput>, Partial<ReturnType<typeof parseTlsSettings>>]> = [
    [{ minVersion: '1.2' }, { minVersion: 'TLSv1.2' }],
    [{ minVersion: '1.2', maxVersion: '1.2' }, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }],
    [{ cipherSuites: ' TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 , TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,, ' }, { ciphers: `ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:${TLS13}` }],
    [{ cipherSuites: 'TLS_AES_128_GCM_SHA256' }, { ciphers: TLS13 }], // TLS 1.3 only: no TLS 1.2 suite, as in Go
    [{ curvePreferences: 'X25519,CurveP256,P-384,CurveP521,X25519MLKEM768' }, { ecdhCurve: 'X25519:P-256:P-384:P-521:X25519MLKEM768' }],
    [{ curvePreferences: 'P-256, CurveP256' }, { ecdhCurve: 'P-256' }],
  ]
  for (const [input, want] of cases) {
    const { settings, problems } = parse(input)
    t.same(problems, [], JSON.stringify(input))
    t.match(settings, want, JSON.stringify(input))
  }
})

t.test('an unknown value is one readable problem line', async (t) => {
  const cases: Array<[Partial<TlsSettingsInput>, string]> = [
    [{ minVersion: '1.1' }, 'config: QUEUE_PROXY_TLS_MIN_VERSION must be 1.2 or 1.3, got "1.1"'],
    [{ minVersion: '1.2 ' }, 'config: QUEUE_PROXY_TLS_MIN_VERSION must be 1.2 or 1.3, got "1.2 "'],
    [{ maxVersion: 'TLSv1.3' }, 'config: QUEUE_PROXY_TLS_MAX_VERSION must be 1.2 or 1.3, got "TLSv1.3"'],
    [{ maxVersion: '1.2' }, 'config: QUEUE_PROXY_TLS_MAX_VERSION (1.2) is below QUEUE_PROXY_TLS_MIN_VERSION (1.3, the default)'],
    [{ cipherSuites: 'TLS_RSA_WITH_AES_128_CBC_SHA' }, 'config: QUEUE_PROXY_TLS_CIPHER_SUITES has an unknown cipher suite "TLS_RSA_WITH_AES_128_CBC_SHA" (Go\'s names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)'],
    [{ cipherSuites: 'ECDHE-RSA-AES128-GCM-SHA256' }, 'config: QUEUE_PROXY_TLS_CIPHER_SUITES has an unknown cipher suite "ECDHE-RSA-AES128-GCM-SHA256" (Go\'s names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)'],
    [{ curvePreferences: 'prime256v1' }, 'config: QUEUE_PROXY_TLS_CURVE_PREFERENCES has an unknown curve "prime256v1" (one of CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768, P-256, P-384, P-521)'],
  ]
  for (const [input, line] of cases) t.same(parse(input).problems, [line], JSON.stringify(input))
})

t.test('sidecar config: TLS port, cert dir, and the env mapped', async (t) => {
  const d = loadSidecarConfig([], {})
  t.equal(d.config?.tlsPort, 8112)
  t.equal(d.config?.tlsCertDir, '/var/lib/knative/certs')
  const c = loadSidecarConfig(['--tls-port', '9443', '--tls-cert-dir', '/tmp/certs'], { QUEUE_PROXY_TLS_MIN_VERSION: '1.2', QUEUE_PROXY_TLS_CURVE_PREFERENCES: 'X25519' })
  t.same(c.problems, [])
  t.equal(c.config?.tlsPort, 9443)
  t.equal(c.config?.tlsCertDir, '/tmp/certs')
  t.equal(c.config?.tls.minVersion, 'TLSv1.2')
  t.equal(c.config?.tls.ecdhCurve, 'X25519')
  t.equal(loadSidecarConfig([], { QUEUE_SERVING_TLS_PORT: '8443' }).config?.tlsPort, 8443)
  t.same(loadSidecarConfig([], { QUEUE_SERVING_PORT: '8112' }).problems, ['config: QUEUE_SERVING_PORT and QUEUE_SERVING_TLS_PORT are both 8112'])
})

t.test('a bad TLS env value stops `sluice sidecar` with one line and exit 2', async (t) => {
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const r = spawnSync(process.execPath, [bin, 'sidecar'], { env: childEnv({ QUEUE_PROXY_TLS_CURVE_PREFERENCES: 'X25519,Curve25519' }), encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 2)
  t.same(r.stderr.trim().split('\n'), ['config: QUEUE_PROXY_TLS_CURVE_PREFERENCES has an unknown curve "Curve25519" (one of CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768, P-256, P-384, P-521)'])
})

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseSystemInternalTls } from '../../src/config/activator-tls-config.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'

function configMapDir (t: { teardown (fn: () => unknown): void }, keys: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-network-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  for (const [k, v] of Object.entries(keys)) writeFileSync(join(dir, k), v)
  return dir
}

t.test('defaults: TLS port 8112 with Knative\'s cert mount, internal TLS off, pods\' 8112, TLS 1.3', async (t) => {
  const { config, problems } = loadActivatorConfig([], {})
  t.same(problems, [])
  t.match(config?.tls, { port: 8112, certDir: '/var/lib/knative/certs', internalTls: false, podTlsPort: 8112, settings: { minVersion: 'TLSv1.3', maxVersion: null } })
})

// knative.dev/networking NewConfigFromMap: system-internal-tls, with the deprecated internal-encryption.
const TABLE: Array<[Record<string, string>, boolean | 'problem']> = [
  [{}, false],
  [{ 'system-internal-tls': 'enabled' }, true],
  [{ 'system-internal-tls': 'Enabled' }, true],
  [{ 'system-internal-tls': 'disabled' }, false],
  [{ 'system-internal-tls': 'DISABLED' }, false],
  [{ 'internal-encryption': 'true' }, true],
  [{ 'internal-encryption': 'True' }, true],
  [{ 'internal-encryption': 'false' }, false],
  [{ 'internal-encryption': 'true', 'system-internal-tls': 'disabled' }, true],
  [{ 'internal-encryption': 'false', 'system-internal-tls': 'enabled' }, true],
  [{ 'system-internal-tls': 'on' }, 'problem'],
  [{ 'internal-encryption': 'yes' }, 'problem'],
]

for (const [data, want] of TABLE) {
  t.test(`config-network ${JSON.stringify(data)} -> ${String(want)}`, async (t) => {
    const problems: string[] = []
    const got = parseSystemInternalTls(new Map(Object.entries(data)), problems)
    if (want === 'problem') t.equal(problems.length, 1, problems.join('; '))
    else {
      t.same(problems, [])
      t.equal(got, want)
    }
  })
}

t.test('--network-config-dir turns internal TLS on from config-network; --internal-tls without it', async (t) => {
  const on = configMapDir(t, { 'system-internal-tls': 'enabled' })
  t.equal(loadActivatorConfig(['--source', 'kubernetes', '--network-config-dir', on], {}).config?.tls.internalTls, true)
  const off = configMapDir(t, { 'system-internal-tls': 'disabled' })
  t.equal(loadActivatorConfig(['--source', 'kubernetes', '--network-config-dir', off], {}).config?.tls.internalTls, false)
  t.equal(loadActivatorConfig(['--internal-tls'], {}).config?.tls.internalTls, true)
  const bad = configMapDir(t, { 'system-internal-tls': 'maybe' })
  const r = loadActivatorConfig(['--source', 'kubernetes', '--network-config-dir', bad], {})
  t.equal(r.config, null)
  t.match(r.problems, [/config-network system-internal-tls must be enabled or disabled, got "maybe"/])
})

t.test('problems: the TLS port clashing with another port, ACTIVATOR_TLS_* values, an empty cert dir', async (t) => {
  const { config, problems } = loadActivatorConfig(['--tls-port', '8012', '--tls-cert-dir', ''], { ACTIVATOR_TLS_MIN_VERSION: '1.1', ACTIVATOR_TLS_CIPHER_SUITES: 'TLS_NOPE' })
  t.equal(config, null)
  t.same(problems.sort(), [
    'config: --tls-cert-dir must not be empty',
    'config: --tls-port and --port are both 8012',
    'config: ACTIVATOR_TLS_CIPHER_SUITES has an unknown cipher suite "TLS_NOPE" (Go\'s names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)',
    'config: ACTIVATOR_TLS_MIN_VERSION must be 1.2 or 1.3, got "1.1"',
  ])
})

t.test('ACTIVATOR_TLS_* set the TLS port\'s versions and suites (knative.dev/pkg DefaultConfigFromEnv("ACTIVATOR_"))', async (t) => {
  const { config } = loadActivatorConfig(['--pod-tls-port', '0'], { ACTIVATOR_TLS_MIN_VERSION: '1.2', ACTIVATOR_TLS_CIPHER_SUITES: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' })
  t.equal(config?.tls.settings.minVersion, 'TLSv1.2')
  t.match(config?.tls.settings.ciphers, /^ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256/)
  t.equal(config?.tls.podTlsPort, 0)
})

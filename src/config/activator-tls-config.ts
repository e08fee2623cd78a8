import { readConfigDir } from './config-dir-watcher.ts'
import { boolOf, intOf, strOf, type OptionSpec, type OptionValue } from './options.ts'
import { parseGoBool } from '../go/go-parse.ts'
import { ACTIVATOR_TLS_ENV, parseTlsSettings, type TlsSettings } from './tls-settings.ts'

// The activator's TLS settings, Knative's system-internal-tls (cmd/activator/main.go):
//
// - the TLS port (Knative: 8112, BackendHTTPSPort) serves the same traffic as the plain one with
//   the activator's certificate. Knative's activator takes it from the routing-serving-certs Secret
//   (through an informer); Sluice reads the Secret mounted as a directory (--tls-cert-dir: tls.crt,
//   tls.key, ca.crt), re-read every minute. The port listens when tls.crt and tls.key are there,
//   as the sidecar's; with internal TLS on they must be (Knative exits without the Secret).
//   ACTIVATOR_TLS_MIN_VERSION & co. are knative.dev/pkg DefaultConfigFromEnv("ACTIVATOR_").
// - internal TLS: requests and probes to pods go over TLS to their 8112, verified against ca.crt
//   (activator/internal-tls.ts). On when config-network says `system-internal-tls: enabled` (or the
//   deprecated `internal-encryption: true`), parsed as knative.dev/networking NewConfigFromMap;
//   Knative's activator reads config-network once at start, so this does too. The ConfigMap comes
//   from --network-config-dir (config-network mounted as files); --internal-tls turns it on
//   without one (no Kubernetes).

/** knative.dev/networking config keys. */
export const SYSTEM_INTERNAL_TLS_KEY = 'system-internal-tls'
export const INTERNAL_ENCRYPTION_KEY = 'internal-encryption'
export const INTERNAL_TLS_KEYS: readonly string[] = [SYSTEM_INTERNAL_TLS_KEY, INTERNAL_ENCRYPTION_KEY]

export interface ActivatorTlsConfig {
  /** The TLS port; listened on only when the cert dir holds tls.crt and tls.key. */
  readonly port: number
  /** The mounted Secret: tls.crt, tls.key (the TLS port), ca.crt (what internal TLS trusts). */
  readonly certDir: string
  readonly settings: TlsSettings
  /** Dial pods with TLS (system-internal-tls). */
  readonly internalTls: boolean
  /** The pods' TLS port with internal TLS (Knative: 8112); 0 = each endpoint's own port. */
  readonly podTlsPort: number
}

const PORT = { kind: 'int', min: 0, max: 65535 } as const

export const ACTIVATOR_TLS_OPTIONS: readonly OptionSpec[] = [
  { flag: 'tls-port', env: '', ...PORT, default: '8112', help: 'TLS port (same traffic as --port); listened on when --tls-cert-dir holds tls.crt and tls.key' },
  { flag: 'tls-cert-dir', env: '', kind: 'string', default: '/var/lib/knative/certs', help: 'the activator\'s Secret (routing-serving-certs) mounted as a directory: tls.crt + tls.key for the TLS port, ca.crt trusted for internal TLS; re-read every minute' },
  { flag: 'internal-tls', env: '', kind: 'bool', default: 'false', help: 'system-internal-tls without config-network: requests and probes to pods over TLS, verified with ca.crt, SAN kn-user-<namespace>' },
  { flag: 'pod-tls-port', env: '', ...PORT, default: '8112', help: 'with internal TLS: the pods\' TLS port, put in place of the endpoint\'s port as Knative does; 0 = the endpoint\'s own port' },
  { flag: '', env: ACTIVATOR_TLS_ENV.minVersion, kind: 'string', default: '', help: 'TLS port: lowest TLS version, 1.2 or 1.3 (empty = 1.3)' },
  { flag: '', env: ACTIVATOR_TLS_ENV.maxVersion, kind: 'string', default: '', help: 'TLS port: highest TLS version, 1.2 or 1.3 (empty = 1.3)' },
  { flag: '', env: ACTIVATOR_TLS_ENV.cipherSuites, kind: 'string', default: '', help: 'TLS port: TLS 1.2 cipher suites, comma-separated Go names; empty = Go\'s defaults' },
  { flag: '', env: ACTIVATOR_TLS_ENV.curvePreferences, kind: 'string', default: '', help: 'TLS port: key exchange groups, comma-separated Go names; empty = Node\'s defaults' },
]

/**
 * config-network's system-internal-tls as knative.dev/networking NewConfigFromMap reads it:
 * "enabled"/"disabled" in any case, empty = the deprecated internal-encryption (a Go bool), anything
 * else an error (Knative's activator exits on it).
 */
export function parseSystemInternalTls (data: ReadonlyMap<string, string>, problems: string[]): boolean {
  let legacy = false
  const legacyRaw = data.get(INTERNAL_ENCRYPTION_KEY)
  if (legacyRaw !== undefined) {
    // knative.dev/pkg cm.AsBool: strconv.ParseBool of the trimmed value.
    const v = parseGoBool(legacyRaw.trim())
    if (v !== null) legacy = v
    else {
      problems.push(`config: config-network ${INTERNAL_ENCRYPTION_KEY} must be true or false, got ${JSON.stringify(legacyRaw.slice(0, 40))}`)
    }
  }
  const raw = data.get(SYSTEM_INTERNAL_TLS_KEY) ?? ''
  switch (raw.toLowerCase()) {
    case '':
    case 'disabled':
      return legacy // Knative: internal-encryption still turns it on here (backward compatibility)
    case 'enabled':
      return true
    default:
      problems.push(`config: config-network ${SYSTEM_INTERNAL_TLS_KEY} must be enabled or disabled, got ${JSON.stringify(raw.slice(0, 40))}`)
      return false
  }
}

/**
 * Reads the options above from parsed values. `networkConfigDir` ('' = none) is config-network
 * mounted as files; `usedPorts` are the activator's other ports, which the TLS port must not equal.
 */
export function loadActivatorTlsConfig (v: Map<string, OptionValue>, networkConfigDir: string, usedPorts: ReadonlyArray<readonly [string, number]>, problems: string[]): ActivatorTlsConfig {
  const port = intOf(v, 'tls-port', 8112)
  for (const [name, other] of usedPorts) {
    if (port !== 0 && port === other) problems.push(`config: --tls-port and ${name} are both ${port}`)
  }
  const settings = parseTlsSettings({
    minVersion: strOf(v, ACTIVATOR_TLS_ENV.minVersion),
    maxVersion: strOf(v, ACTIVATOR_TLS_ENV.maxVersion),
    cipherSuites: strOf(v, ACTIVATOR_TLS_ENV.cipherSuites),
    curvePreferences: strOf(v, ACTIVATOR_TLS_ENV.curvePreferences),
  }, problems, ACTIVATOR_TLS_ENV)
  let internalTls = boolOf(v, 'internal-tls')
  if (networkConfigDir !== '') {
    try {
      if (parseSystemInternalTls(readConfigDir(networkConfigDir, INTERNAL_TLS_KEYS), problems)) internalTls = true
    } catch (err) {
      problems.push(`config: --network-config-dir ${JSON.stringify(networkConfigDir)} cannot be read: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const certDir = strOf(v, 'tls-cert-dir', '/var/lib/knative/certs')
  if (certDir === '') problems.push('config: --tls-cert-dir must not be empty')
  return Object.freeze({ port, certDir, settings, internalTls, podTlsPort: intOf(v, 'pod-tls-port', 8112) })
}

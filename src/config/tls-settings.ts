import type { SecureContextOptions, SecureVersion } from 'node:tls'

// The TLS settings of a TLS port, as Knative reads them: knative.dev/pkg network/tls
// DefaultConfigFromEnv(prefix) reads <prefix>TLS_MIN_VERSION (default 1.3), _MAX_VERSION,
// _CIPHER_SUITES and _CURVE_PREFERENCES, with Go's crypto/tls names; the queue-proxy's prefix is
// QUEUE_PROXY_, the activator's ACTIVATOR_. Here the same values become Node's secure context
// options (OpenSSL names).
//
// Go semantics kept:
// - versions are exactly "1.2" or "1.3" (no spaces); empty = unset.
// - lists are comma-separated, entries trimmed, empty entries skipped; an unknown entry is an error.
// - cipher suites are those of Go's tls.CipherSuites() (the insecure list is refused). The list
//   only selects TLS 1.2 suites: Go's TLS 1.3 suites are not configurable, so the three TLS 1.3
//   suites are always enabled whatever the list says (OpenSSL would otherwise turn them off).
// - unset cipher suites = Go's default TLS 1.2 suites (all ten ECDHE suites below), not Node's
//   wider default; unset curves = Node's default ('auto'), which covers Go's default curves.

export interface TlsSettings {
  readonly minVersion: SecureVersion
  /** null = the highest Node supports (TLS 1.3), as Go's zero MaxVersion. */
  readonly maxVersion: SecureVersion | null
  /** OpenSSL cipher string (TLS 1.2 names, then the TLS 1.3 suites). */
  readonly ciphers: string
  /** OpenSSL group list (`ecdhCurve`), or null for Node's default. */
  readonly ecdhCurve: string | null
}

/** Raw env values (empty = unset) and the names to quote in problems. */
export interface TlsSettingsInput {
  minVersion: string
  maxVersion: string
  cipherSuites: string
  curvePreferences: string
}

export type TlsEnvNames = Readonly<Record<keyof TlsSettingsInput, string>>

/** The four env names DefaultConfigFromEnv(prefix) reads. */
export function tlsEnvFor (prefix: string): TlsEnvNames {
  return Object.freeze({
    minVersion: `${prefix}TLS_MIN_VERSION`,
    maxVersion: `${prefix}TLS_MAX_VERSION`,
    cipherSuites: `${prefix}TLS_CIPHER_SUITES`,
    curvePreferences: `${prefix}TLS_CURVE_PREFERENCES`,
  })
}

/** The queue-proxy's (the sidecar's TLS port). */
export const TLS_ENV = tlsEnvFor('QUEUE_PROXY_')
/** Knative's activator (its TLS port with system-internal-tls). */
export const ACTIVATOR_TLS_ENV = tlsEnvFor('ACTIVATOR_')

const VERSIONS: Readonly<Record<string, SecureVersion>> = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' }

/** TLS 1.3 suites (Go always enables all three; IANA names are OpenSSL's too). */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']

/** Go's tls.CipherSuites() TLS 1.2 entries -> OpenSSL names. */
const TLS12_SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
}

/** Go's default TLS 1.2 suites, in Go's preference order (AEADs first). */
const DEFAULT_TLS12 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-RSA-AES256-SHA',
]

/** knative.dev/pkg's curvesByName (Go constant and standard names) -> OpenSSL group names. */
const CURVES: Readonly<Record<string, string>> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
  X25519MLKEM768: 'X25519MLKEM768',
  'P-256': 'P-256',
  'P-384': 'P-384',
  'P-521': 'P-521',
}

function listOf (raw: string): string[] {
  const out: string[] = []
  for (const part of raw.split(',')) {
    const name = part.trim()
    if (name !== '') out.push(name)
  }
  return out
}

function versionOf (raw: string, env: string, problems: string[]): SecureVersion | null {
  if (raw === '') return null
  const v = VERSIONS[raw]
  if (v === undefined) problems.push(`config: ${env} must be 1.2 or 1.3, got ${JSON.stringify(raw)}`)
  return v ?? null
}

/** Parses the four env values (named `names` in problems); each bad value adds one problem line. */
export function parseTlsSettings (input: TlsSettingsInput, problems: string[], names: TlsEnvNames = TLS_ENV): TlsSettings {
  const minVersion = versionOf(input.minVersion, names.minVersion, problems) ?? 'TLSv1.3'
  const maxVersion = versionOf(input.maxVersion, names.maxVersion, problems)
  if (maxVersion !== null && maxVersion < minVersion) {
    // Go would start and fail every handshake; a start-up error says what is wrong.
    problems.push(`config: ${names.maxVersion} (${input.maxVersion}) is below ${names.minVersion} (${input.minVersion === '' ? '1.3, the default' : input.minVersion})`)
  }

  let tls12 = DEFAULT_TLS12
  const suites = listOf(input.cipherSuites)
  if (suites.length > 0) {
    tls12 = []
    for (const name of suites) {
      if (TLS13_SUITES.includes(name)) continue
      const openssl = TLS12_SUITES[name]
      if (openssl === undefined) {
        problems.push(`config: ${names.cipherSuites} has an unknown cipher suite ${JSON.stringify(name)} (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`)
      } else if (!tls12.includes(openssl)) tls12.push(openssl)
    }
  }

  let ecdhCurve: string | null = null
  const curves = listOf(input.curvePreferences)
  if (curves.length > 0) {
    const groups: string[] = []
    for (const name of curves) {
      const group = CURVES[name]
      if (group === undefined) {
        problems.push(`config: ${names.curvePreferences} has an unknown curve ${JSON.stringify(name)} (one of ${Object.keys(CURVES).join(', ')})`)
      } else if (!groups.includes(group)) groups.push(group)
    }
    ecdhCurve = groups.join(':')
  }

  // An empty TLS 1.2 part (only TLS 1.3 names listed) leaves TLS 1.2 without suites, as in Go;
  // Node then raises the minimum to TLS 1.3 itself.
  return Object.freeze({ minVersion, maxVersion, ciphers: [...tls12, ...TLS13_SUITES].join(':'), ecdhCurve })
}

/** Node's secure context options for `settings` with a certificate chain and key (PEM). */
export function secureContextOptions (settings: TlsSettings, cert: Buffer, key: Buffer): SecureContextOptions {
  const options: SecureContextOptions = { cert, key, minVersion: settings.minVersion, ciphers: settings.ciphers }
  if (settings.maxVersion !== null) options.maxVersion = settings.maxVersion
  if (settings.ecdhCurve !== null) options.ecdhCurve = settings.ecdhCurve
  return options
}

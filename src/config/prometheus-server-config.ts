import type { OptionSpec, OptionValue } from './options.ts'
import { strOf } from './options.ts'
import { splitHostPort } from './telemetry-config.ts'
import { parseTlsSettings, tlsEnvFor, type TlsSettings } from './tls-settings.ts'

// Where the `prometheus` metrics protocol serves its exposition, as knative/pkg
// observability/metrics/prometheus.NewServer decides it: the metrics endpoint (host:port) gives
// the defaults, then METRICS_PROMETHEUS_HOST / _PORT, when set and non-empty, win over it; with
// both METRICS_PROMETHEUS_TLS_CERT and _TLS_KEY the exposition is HTTPS, its versions, suites and
// curves from DefaultConfigFromEnv("METRICS_PROMETHEUS_") (min TLS 1.3), and
// _TLS_CLIENT_AUTH (none | optional | require) with _TLS_CLIENT_CA_FILE asks scrapers for a client
// certificate. The checks and their words are validate()'s; like Knative, the variables are read
// only when the protocol is `prometheus`, and a check that fails stops the process at start (Knative:
// "Failed to setup meter provider"). The certificate and key are read when the listener starts (a
// file that cannot be read is logged and the process serves on without the exposition, as Go's
// ListenAndServeTLS error is only printed); the client CA is read here, as NewServer reads it.

export const PROMETHEUS_ENV = Object.freeze({
  host: 'METRICS_PROMETHEUS_HOST',
  port: 'METRICS_PROMETHEUS_PORT',
  certFile: 'METRICS_PROMETHEUS_TLS_CERT',
  keyFile: 'METRICS_PROMETHEUS_TLS_KEY',
  clientAuth: 'METRICS_PROMETHEUS_TLS_CLIENT_AUTH',
  clientCaFile: 'METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE',
})

const PROMETHEUS_TLS_ENV = tlsEnvFor('METRICS_PROMETHEUS_')

export type PrometheusClientAuth = 'none' | 'optional' | 'require'

export interface PrometheusTlsConfig {
  readonly certFile: string
  readonly keyFile: string
  readonly clientAuth: PrometheusClientAuth
  /** PEM of METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE; null when client auth is none. */
  readonly clientCa: Buffer | null
  readonly settings: TlsSettings
}

export interface PrometheusServerConfig {
  /** '' = every address, IPv6 and IPv4 (Go's ":port"). */
  readonly host: string
  readonly port: number
  /** null = plain HTTP. */
  readonly tls: PrometheusTlsConfig | null
}

/** The env rows both modes read (documented in docs/observability.md). */
export const PROMETHEUS_SERVER_OPTIONS: readonly OptionSpec[] = [
  { flag: '', env: PROMETHEUS_ENV.host, kind: 'string', default: '', help: 'metrics protocol prometheus: listen address, over the metrics endpoint\'s host' },
  { flag: '', env: PROMETHEUS_ENV.port, kind: 'string', default: '', help: 'metrics protocol prometheus: port (1024-65535), over the metrics endpoint\'s port' },
  { flag: '', env: PROMETHEUS_ENV.certFile, kind: 'string', default: '', help: 'metrics protocol prometheus: PEM certificate; with the key, the exposition is HTTPS' },
  { flag: '', env: PROMETHEUS_ENV.keyFile, kind: 'string', default: '', help: 'metrics protocol prometheus: PEM private key' },
  { flag: '', env: PROMETHEUS_ENV.clientAuth, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: none, optional or require a client certificate' },
  { flag: '', env: PROMETHEUS_ENV.clientCaFile, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: CA bundle that verifies client certificates' },
  { flag: '', env: PROMETHEUS_TLS_ENV.minVersion, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: lowest TLS version, 1.2 or 1.3 (empty = 1.3)' },
  { flag: '', env: PROMETHEUS_TLS_ENV.maxVersion, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: highest TLS version, 1.2 or 1.3' },
  { flag: '', env: PROMETHEUS_TLS_ENV.cipherSuites, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: TLS 1.2 cipher suites, comma-separated Go names' },
  { flag: '', env: PROMETHEUS_TLS_ENV.curvePreferences, kind: 'string', default: '', help: 'metrics protocol prometheus over HTTPS: key exchange groups, comma-separated Go names' },
]

const MIN_PORT = 1024
const MAX_PORT = 65535

/**
 * The exposition's address and TLS from the metrics endpoint (already checked to be host:port, or
 * '') and the env rows; `defaultPort` is the mode's (queue-proxy 9091, activator 9090). Problems are
 * one `config:` line each, Knative's words.
 */
export function prometheusServerOf (values: Map<string, OptionValue>, endpoint: string, defaultPort: number, problems: string[]): PrometheusServerConfig | null {
  const before = problems.length
  const fail = (msg: string): void => { problems.push(`config: create prometheus metrics server: ${msg}`) }
  const hp = endpoint === '' ? null : splitHostPort(endpoint)
  const host = strOf(values, PROMETHEUS_ENV.host) || (hp?.host ?? '')
  const portText = strOf(values, PROMETHEUS_ENV.port) || (hp?.port ?? String(defaultPort))
  const certFile = strOf(values, PROMETHEUS_ENV.certFile)
  const keyFile = strOf(values, PROMETHEUS_ENV.keyFile)
  const clientAuthRaw = strOf(values, PROMETHEUS_ENV.clientAuth)
  const clientCaFile = strOf(values, PROMETHEUS_ENV.clientCaFile)

  const port = parseGoUint16(portText)
  if (typeof port === 'string') {
    fail(`prometheus port ${JSON.stringify(portText)} could not be parsed as a port number: strconv.ParseUint: parsing ${JSON.stringify(portText)}: ${port}`)
    return null
  }
  if (port < MIN_PORT || port > MAX_PORT) {
    fail(`prometheus port ${port}, should be between ${MIN_PORT} and ${MAX_PORT}`)
    return null
  }
  if ((certFile !== '' && keyFile === '') || (certFile === '' && keyFile !== '')) {
    fail(`both ${PROMETHEUS_ENV.certFile} and ${PROMETHEUS_ENV.keyFile} must be set or neither`)
    return null
  }
  const tlsEnabled = certFile !== '' && keyFile !== ''
  const auth = clientAuthRaw.trim().toLowerCase()
  if (auth !== '' && auth !== 'none' && auth !== 'optional' && auth !== 'require') {
    fail(`invalid ${PROMETHEUS_ENV.clientAuth} ${JSON.stringify(clientAuthRaw)}: must be "none", "optional", or "require"`)
    return null
  }
  if (!tlsEnabled && ((auth !== '' && auth !== 'none') || clientCaFile !== '')) {
    fail(`${PROMETHEUS_ENV.clientAuth} and ${PROMETHEUS_ENV.clientCaFile} require TLS to be enabled (${PROMETHEUS_ENV.certFile} and ${PROMETHEUS_ENV.keyFile} must be set)`)
    return null
  }
  if (tlsEnabled && (auth === 'optional' || auth === 'require') && clientCaFile.trim() === '') {
    fail(`${PROMETHEUS_ENV.clientCaFile} must be set when ${PROMETHEUS_ENV.clientAuth} is ${JSON.stringify(auth)} (client certs cannot be validated without a CA)`)
    return null
  }
  if (tlsEnabled && (auth === '' || auth === 'none') && clientCaFile.trim() !== '') {
    fail(`${PROMETHEUS_ENV.clientCaFile} is set but ${PROMETHEUS_ENV.clientAuth} is ${JSON.stringify(auth)}; set ${PROMETHEUS_ENV.clientAuth} to "optional" or "require" to use client certificate verification`)
    return null
  }
  if (!tlsEnabled) return Object.freeze({ host, port, tls: null })

  const settings = parseTlsSettings({
    minVersion: strOf(values, PROMETHEUS_TLS_ENV.minVersion),
    maxVersion: strOf(values, PROMETHEUS_TLS_ENV.maxVersion),
    cipherSuites: strOf(values, PROMETHEUS_TLS_ENV.cipherSuites),
    curvePreferences: strOf(values, PROMETHEUS_TLS_ENV.curvePreferences),
  }, problems, PROMETHEUS_TLS_ENV)
  if (problems.length > before) return null
  const clientAuth: PrometheusClientAuth = auth === 'optional' || auth === 'require' ? auth : 'none'
  let clientCa: Buffer | null = null
  if (clientAuth !== 'none') {
    try {
      // node:fs through getBuiltinModule: its ESM facade loads fs/promises and streams at start.
      clientCa = process.getBuiltinModule('node:fs').readFileSync(clientCaFile.trim())
    } catch (err) {
      fail(`reading ${PROMETHEUS_ENV.clientCaFile}: ${err instanceof Error ? err.message : String(err)}`)
      return null
    }
    if (!clientCa.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
      fail(`no valid CA certificates found in ${PROMETHEUS_ENV.clientCaFile}`)
      return null
    }
  }
  return Object.freeze({ host, port, tls: Object.freeze({ certFile, keyFile, clientAuth, clientCa, settings }) })
}

/**
 * The exposition's port against the mode's own ports (0 = any free port, never a clash): one problem
 * per port it shares. `why` says where the port came from, when that is not obvious (the activator's
 * default 9090 is its --metrics-port's too).
 */
export function checkPrometheusPortClash (server: PrometheusServerConfig | null, ports: ReadonlyArray<readonly [string, number]>, problems: string[], why = ''): void {
  if (server === null) return
  for (const [name, port] of ports) {
    if (port !== 0 && port === server.port) {
      problems.push(`config: request metrics over prometheus listen on port ${port}${why === '' ? '' : ` (${why})`}, which ${name} also uses: set the metrics endpoint or METRICS_PROMETHEUS_PORT to another port`)
    }
  }
}

/** Go's strconv.ParseUint(s, 10, 16): the value, or the error's reason. */
function parseGoUint16 (s: string): number | string {
  if (!/^[0-9]+$/.test(s)) return 'invalid syntax'
  const n = Number(s)
  return n > 0xffff ? 'value out of range' : n
}

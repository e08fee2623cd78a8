// Turns untrusted input (a revisions-file entry, an admin API body) into a RevisionSpec. Every source
// validates here, so the registry never meets a malformed revision. Never throws: each problem is one
// readable line that names the field exactly (`revisions[2].endpoints[1]: "foo" is not host:port`), and
// callers report all of them at once (exit 2 at start, a 400 on the admin API, one log line on reload).

import { isIPv4, isIPv6 } from 'node:net'
import type { LbPolicyName, RevisionSpec } from '../revision-spec.ts'
import { isRecord } from '../../shared/is-record.ts'

export const LB_POLICY_NAMES: readonly LbPolicyName[] = ['random-choice-2', 'first-available', 'round-robin']

/** Used when a revision names no namespace (like kubectl). */
export const DEFAULT_NAMESPACE = 'default'
/** Knative's MaxInt32 bound on containerConcurrency. */
export const MAX_CONTAINER_CONCURRENCY = 2_147_483_647
/** setTimeout's limit is 2^31-1 ms; a longer timeout would fire at once. */
export const MAX_TIMEOUT_SECONDS = 2_147_483
/** Bounds on list sizes: every list we keep has a limit. */
export const MAX_ENDPOINTS = 10_000
export const MAX_HOSTS = 1_000

const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'name', 'namespace', 'containerConcurrency', 'endpoints', 'notReadyEndpoints', 'hosts', 'timeoutSeconds',
  'responseStartTimeoutSeconds', 'idleTimeoutSeconds', 'lbPolicy',
])

// Kubernetes IsDNS1123Label.
const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_LABEL_MAX = 63
// A DNS name as written in a Host header (letters in any case, compared lower-cased); at most 253 chars.
const HOSTNAME_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i
const HOSTNAME_MAX = 253
const PORT_RE = /^[0-9]{1,5}$/

export interface ParseRevisionSpecOptions {
  /** The admin API requires `endpoints` (an empty list is fine); the revisions file defaults it to []. */
  readonly endpointsRequired?: boolean
}

export type ParseRevisionSpecResult = { spec: RevisionSpec } | { problems: string[] }

/**
 * Validates one revision. `where` prefixes field names (`revisions[0]` -> `revisions[0].name`); pass ''
 * for bare field names. Unknown fields are problems (a typo fails loudly instead of being ignored); null
 * counts as absent. The spec is frozen, hosts are lower-cased, and field order is fixed.
 */
export function parseRevisionSpec (input: unknown, where: string, opts: ParseRevisionSpecOptions = {}): ParseRevisionSpecResult {
  if (!isRecord(input)) {
    return { problems: [`${where === '' ? 'revision' : where}: expected an object, got ${describe(input)}`] }
  }
  const problems: string[] = []
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) problems.push(`${at(where, key)}: unknown field`)
  }

  const name = readLabel(input, 'name', where, null, problems)
  const namespace = readLabel(input, 'namespace', where, DEFAULT_NAMESPACE, problems)
  const containerConcurrency = readInteger(input, 'containerConcurrency', where, 0, MAX_CONTAINER_CONCURRENCY, problems) ?? 0
  const endpoints = readEndpoints(input, 'endpoints', where, opts.endpointsRequired === true, problems)
  // Pods the platform does not call ready yet, used once the activator's probe passes (RevisionSpec).
  const notReadyEndpoints = readEndpoints(input, 'notReadyEndpoints', where, false, problems)
  for (let i = 0; i < notReadyEndpoints.length; i++) {
    const e = notReadyEndpoints[i]
    if (e !== undefined && endpoints.includes(e)) problems.push(`${at(where, 'notReadyEndpoints')}[${i}]: ${JSON.stringify(e)} is in endpoints too`)
  }
  const hosts = readHosts(input, where, problems)
  const timeoutSeconds = readInteger(input, 'timeoutSeconds', where, 1, MAX_TIMEOUT_SECONDS, problems)
  // 0 = off, as in Knative's revision spec.
  const responseStartTimeoutSeconds = readInteger(input, 'responseStartTimeoutSeconds', where, 0, MAX_TIMEOUT_SECONDS, problems)
  const idleTimeoutSeconds = readInteger(input, 'idleTimeoutSeconds', where, 0, MAX_TIMEOUT_SECONDS, problems)
  const lbPolicy = readLbPolicy(input, where, problems)

  if (problems.length > 0 || name === null || namespace === null) return { problems }
  const spec: RevisionSpec = Object.freeze({
    namespace,
    name,
    containerConcurrency,
    endpoints: Object.freeze(endpoints),
    ...(notReadyEndpoints.length > 0 ? { notReadyEndpoints: Object.freeze(notReadyEndpoints) } : {}),
    hosts: Object.freeze(hosts),
    timeoutSeconds,
    // Present only when given, so revisions without them read (and list) as before.
    ...(responseStartTimeoutSeconds !== null ? { responseStartTimeoutSeconds } : {}),
    ...(idleTimeoutSeconds !== null ? { idleTimeoutSeconds } : {}),
    lbPolicy,
  })
  return { spec }
}

/** Why `value` is not a DNS-1123 label, or null when it is one. */
export function dns1123LabelProblem (value: string): string | null {
  if (value.length === 0) return 'must not be empty'
  if (value.length > DNS1123_LABEL_MAX || !DNS1123_LABEL_RE.test(value)) {
    return `must be a DNS-1123 label (at most ${DNS1123_LABEL_MAX} lowercase letters, digits or '-', starting and ending with a letter or digit), got ${JSON.stringify(value)}`
  }
  return null
}

/**
 * Checks one `host:port` endpoint (IPv6 bracketed: `[::1]:8012`). Returns the problem text (without the
 * field name) or null when it is valid.
 */
export function endpointProblem (value: string): string | null {
  const shown = JSON.stringify(value)
  let host: string
  let port: string
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    if (close < 0 || value[close + 1] !== ':') return `${shown} is not host:port`
    host = value.slice(1, close)
    port = value.slice(close + 2)
    if (!isIPv6(host)) return `${shown} is not host:port (${JSON.stringify(host)} is not an IPv6 address)`
  } else {
    const colon = value.lastIndexOf(':')
    if (colon < 0) return `${shown} is not host:port`
    host = value.slice(0, colon)
    port = value.slice(colon + 1)
    if (host.includes(':')) {
      return isIPv6(host) || isIPv6(value)
        ? `${shown} is not host:port (write IPv6 addresses in brackets: [::1]:8012)`
        : `${shown} is not host:port`
    }
    if (!isIPv4(host) && !isHostname(host)) return `${shown} is not host:port (${JSON.stringify(host)} is not a host name or IP address)`
  }
  if (!PORT_RE.test(port)) return `${shown} is not host:port (port ${JSON.stringify(port)} is not a number)`
  const n = Number(port)
  if (n < 1 || n > 65535) return `${shown}: port must be in 1..65535, got ${n}`
  return null
}

/** A DNS host name (labels of letters, digits and '-', dot-separated, at most 253 characters). */
export function isHostname (value: string): boolean {
  if (value.length === 0 || value.length > HOSTNAME_MAX) return false
  const labels = value.endsWith('.') ? value.slice(0, -1).split('.') : value.split('.')
  for (const label of labels) {
    if (label.length > DNS1123_LABEL_MAX || !HOSTNAME_LABEL_RE.test(label)) return false
  }
  return true
}

function readLabel (obj: Record<string, unknown>, key: string, where: string, fallback: string | null, problems: string[]): string | null {
  const value = obj[key]
  if (value === undefined || value === null) {
    if (fallback === null) problems.push(`${at(where, key)}: required`)
    return fallback
  }
  if (typeof value !== 'string') {
    problems.push(`${at(where, key)}: expected a string, got ${describe(value)}`)
    return null
  }
  const problem = dns1123LabelProblem(value)
  if (problem !== null) {
    problems.push(`${at(where, key)}: ${problem}`)
    return null
  }
  return value
}

/** An integer in min..max; absent -> null. */
function readInteger (obj: Record<string, unknown>, key: string, where: string, min: number, max: number, problems: string[]): number | null {
  const value = obj[key]
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = min === 0 ? 'an integer >= 0' : `an integer >= ${min}`
    problems.push(`${at(where, key)}: must be ${range} (at most ${max}), got ${JSON.stringify(value) ?? String(value)}`)
    return null
  }
  return value
}

function readEndpoints (obj: Record<string, unknown>, key: 'endpoints' | 'notReadyEndpoints', where: string, required: boolean, problems: string[]): string[] {
  const field = at(where, key)
  const value = obj[key]
  if (value === undefined || value === null) {
    if (required) problems.push(`${field}: required (a list of "host:port" sidecar addresses; [] when scaled to zero)`)
    return []
  }
  if (!Array.isArray(value)) {
    problems.push(`${field}: expected a list of "host:port" strings, got ${describe(value)}`)
    return []
  }
  if (value.length > MAX_ENDPOINTS) {
    problems.push(`${field}: at most ${MAX_ENDPOINTS} endpoints, got ${value.length}`)
    return []
  }
  const out: string[] = []
  const seen = new Map<string, number>()
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (typeof item !== 'string') {
      problems.push(`${field}[${i}]: expected a "host:port" string, got ${describe(item)}`)
      continue
    }
    const problem = endpointProblem(item)
    if (problem !== null) {
      problems.push(`${field}[${i}]: ${problem}`)
      continue
    }
    const first = seen.get(item)
    if (first !== undefined) {
      problems.push(`${field}[${i}]: ${JSON.stringify(item)} duplicates ${field}[${first}]`)
      continue
    }
    seen.set(item, i)
    out.push(item)
  }
  return out
}

function readHosts (obj: Record<string, unknown>, where: string, problems: string[]): string[] {
  const field = at(where, 'hosts')
  const value = obj.hosts
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) {
    problems.push(`${field}: expected a list of host names, got ${describe(value)}`)
    return []
  }
  if (value.length > MAX_HOSTS) {
    problems.push(`${field}: at most ${MAX_HOSTS} hosts, got ${value.length}`)
    return []
  }
  const out: string[] = []
  const seen = new Map<string, number>()
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (typeof item !== 'string') {
      problems.push(`${field}[${i}]: expected a host name string, got ${describe(item)}`)
      continue
    }
    if (!isHostname(item)) {
      problems.push(`${field}[${i}]: ${JSON.stringify(item)} is not a host name (no scheme, port or path)`)
      continue
    }
    // Host headers compare case-insensitively; a trailing dot names the same host.
    const host = (item.endsWith('.') ? item.slice(0, -1) : item).toLowerCase()
    const first = seen.get(host)
    if (first !== undefined) {
      problems.push(`${field}[${i}]: ${JSON.stringify(item)} duplicates ${field}[${first}]`)
      continue
    }
    seen.set(host, i)
    out.push(host)
  }
  return out
}

function readLbPolicy (obj: Record<string, unknown>, where: string, problems: string[]): LbPolicyName | null {
  const value = obj.lbPolicy
  if (value === undefined || value === null) return null
  for (const policy of LB_POLICY_NAMES) {
    if (value === policy) return policy
  }
  problems.push(`${at(where, 'lbPolicy')}: must be one of ${LB_POLICY_NAMES.join(', ')}, got ${JSON.stringify(value) ?? String(value)}`)
  return null
}

function at (where: string, key: string): string {
  return where === '' ? key : `${where}.${key}`
}

/** A short description of an unexpected value for a problem line. */
export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`
  return `${typeof value} ${String(value)}`
}

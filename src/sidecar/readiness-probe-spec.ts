// Parses SERVING_READINESS_PROBE: the user container's Kubernetes readiness Probe, re-targeted at
// 127.0.0.1 by the Knative controller (pkg/reconciler/revision/resources/queue.go), as JSON; a JSON array
// of probes when ENABLE_MULTI_CONTAINER_PROBES is on (Knative pkg/queue/readiness/probe_encoding.go).
// Everything is checked here, at start, so the prober never meets a malformed probe: each problem is one
// readable line, and the caller reports them all and exits 2.

import { isRecord } from '../shared/is-record.ts'

/** Knative's prefix for the kubelet user agent; major/minor are left empty, so the value is `kube-probe//`. */
export const KUBE_PROBE_USER_AGENT = 'kube-probe//'

const DEFAULT_HOST = '127.0.0.1'
/** Kubernetes' default, and what the controller forces when periodSeconds > 0 and timeoutSeconds < 1. */
const DEFAULT_TIMEOUT_SECONDS = 1
const DEFAULT_FAILURE_THRESHOLD = 3
const ENV_NAME = 'SERVING_READINESS_PROBE'

// RFC 9110 token; Node's http client throws on anything else.
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Node rejects header values with control characters other than tab.
const HEADER_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/
// Node's http client rejects request paths with spaces or control characters; we also keep it ASCII.
const PATH_RE = /^[\x21-\x7e]*$/

interface ProbeTiming {
  /** Timeout of one attempt when not aggressive (timeoutSeconds, at least 1 s). */
  readonly timeoutMs: number
  /** periodSeconds in ms. 0 = Knative's "aggressive" mode: poll every 50 ms until successThreshold. */
  readonly periodMs: number
  /** Consecutive successes needed in aggressive mode (at least 1). */
  readonly successThreshold: number
  /** Kept for completeness; the kubelet applies it to the sidecar's own probe, the prober ignores it. */
  readonly failureThreshold: number
}

export interface HttpProbeHeader {
  readonly name: string
  readonly value: string
}

export interface HttpProbeSpec extends ProbeTiming {
  readonly kind: 'http'
  readonly scheme: 'http' | 'https'
  readonly host: string
  readonly port: number
  /** Always starts with `/`. */
  readonly path: string
  /** Configured httpHeaders, in order (a name may repeat). */
  readonly headers: readonly HttpProbeHeader[]
}

export interface TcpProbeSpec extends ProbeTiming {
  readonly kind: 'tcp'
  readonly host: string
  readonly port: number
}

export interface GrpcProbeSpec extends ProbeTiming {
  readonly kind: 'grpc'
  /** Always 127.0.0.1: the Kubernetes GRPCAction has no host, and Knative dials 127.0.0.1. */
  readonly host: string
  readonly port: number
  /** grpc.health.v1 HealthCheckRequest.service; '' = the whole server. */
  readonly service: string
}

export type ProbeSpec = HttpProbeSpec | TcpProbeSpec | GrpcProbeSpec

export interface ParseReadinessProbeOptions {
  /** USER_PORT: used when a probe names no port (or port 0). */
  readonly userPort: number
  /** ENABLE_MULTI_CONTAINER_PROBES: the value is a JSON array of probes. */
  readonly multiContainer: boolean
}

export type ParseReadinessProbeResult = { specs: ProbeSpec[] } | { problems: string[] }

/**
 * Parses SERVING_READINESS_PROBE. An empty (or blank) value means "no probe": `{ specs: [] }`, and the
 * user container counts as always ready. Never throws.
 */
export function parseReadinessProbe (raw: string, opts: ParseReadinessProbeOptions): ParseReadinessProbeResult {
  if (raw.trim() === '') return { specs: [] }
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    return { problems: [`${ENV_NAME}: invalid JSON: ${message}`] }
  }

  const problems: string[] = []
  const specs: ProbeSpec[] = []
  if (opts.multiContainer) {
    if (!Array.isArray(value)) {
      return { problems: [`${ENV_NAME}: expected a JSON array of probes (ENABLE_MULTI_CONTAINER_PROBES is on), got ${describe(value)}`] }
    }
    if (value.length === 0) {
      return { problems: [`${ENV_NAME}: expected at least one probe in the array`] }
    }
    for (let i = 0; i < value.length; i++) {
      const spec = parseProbe(value[i], `${ENV_NAME}[${i}]`, opts.userPort, problems)
      if (spec !== null) specs.push(spec)
    }
  } else {
    const spec = parseProbe(value, ENV_NAME, opts.userPort, problems)
    if (spec !== null) specs.push(spec)
  }
  return problems.length > 0 ? { problems } : { specs }
}

function parseProbe (value: unknown, where: string, userPort: number, problems: string[]): ProbeSpec | null {
  if (!isRecord(value)) {
    problems.push(`${where}: expected a JSON object (a Kubernetes Probe), got ${describe(value)}`)
    return null
  }
  const before = problems.length

  const periodSeconds = readCount(value, 'periodSeconds', where, problems) ?? 0
  const timeoutSeconds = readCount(value, 'timeoutSeconds', where, problems) ?? 0
  const successThreshold = readCount(value, 'successThreshold', where, problems) ?? 0
  const failureThreshold = readCount(value, 'failureThreshold', where, problems) ?? 0
  const timing: ProbeTiming = {
    timeoutMs: Math.max(timeoutSeconds, DEFAULT_TIMEOUT_SECONDS) * 1000,
    periodMs: periodSeconds * 1000,
    successThreshold: Math.max(successThreshold, 1),
    failureThreshold: failureThreshold > 0 ? failureThreshold : DEFAULT_FAILURE_THRESHOLD,
  }

  const handlers: string[] = []
  for (const key of ['httpGet', 'tcpSocket', 'grpc', 'exec']) {
    if (value[key] !== undefined && value[key] !== null) handlers.push(key)
  }
  if (handlers.length === 0) {
    problems.push(`${where}: no probe handler: expected one of httpGet, tcpSocket, grpc`)
    return null
  }
  if (handlers.length > 1) {
    problems.push(`${where}: expected exactly one probe handler, got ${handlers.join(', ')}`)
    return null
  }

  let spec: ProbeSpec | null = null
  switch (handlers[0]) {
    case 'exec':
      // The controller turns exec probes into tcpSocket probes on the user port; one here is a bug upstream.
      problems.push(`${where}: exec probe not supported`)
      return null
    case 'httpGet':
      spec = parseHttpGet(value.httpGet, `${where}.httpGet`, userPort, timing, problems)
      break
    case 'tcpSocket':
      spec = parseTcpSocket(value.tcpSocket, `${where}.tcpSocket`, userPort, timing, problems)
      break
    case 'grpc':
      spec = parseGrpc(value.grpc, `${where}.grpc`, userPort, timing, problems)
      break
  }
  return problems.length > before ? null : spec
}

function parseHttpGet (value: unknown, where: string, userPort: number, timing: ProbeTiming, problems: string[]): HttpProbeSpec | null {
  if (!isRecord(value)) {
    problems.push(`${where}: expected an object, got ${describe(value)}`)
    return null
  }
  const port = readPort(value, where, userPort, problems)
  const host = readHost(value, where, problems)

  let scheme: 'http' | 'https' = 'http'
  const rawScheme = readString(value, 'scheme', where, problems) ?? ''
  const lower = rawScheme.toLowerCase()
  if (lower === 'https') scheme = 'https'
  else if (lower !== 'http' && lower !== '') problems.push(`${where}.scheme: expected HTTP or HTTPS, got ${JSON.stringify(rawScheme)}`)

  const rawPath = readString(value, 'path', where, problems) ?? ''
  // Knative builds the URL as "/" + TrimPrefix(path, "/").
  const path = '/' + (rawPath.startsWith('/') ? rawPath.slice(1) : rawPath)
  if (!PATH_RE.test(path)) problems.push(`${where}.path: must be printable ASCII without spaces (percent-encode the rest), got ${JSON.stringify(rawPath)}`)

  const headers: HttpProbeHeader[] = []
  const rawHeaders = value.httpHeaders
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (!Array.isArray(rawHeaders)) {
      problems.push(`${where}.httpHeaders: expected an array of {name, value}, got ${describe(rawHeaders)}`)
    } else {
      for (let i = 0; i < rawHeaders.length; i++) {
        const header = parseHeader(rawHeaders[i], `${where}.httpHeaders[${i}]`, problems)
        if (header !== null) headers.push(header)
      }
    }
  }
  if (port === null || host === null) return null
  return { kind: 'http', scheme, host, port, path, headers, ...timing }
}

function parseHeader (value: unknown, where: string, problems: string[]): HttpProbeHeader | null {
  if (!isRecord(value)) {
    problems.push(`${where}: expected an object {name, value}, got ${describe(value)}`)
    return null
  }
  const name = readString(value, 'name', where, problems)
  const headerValue = readString(value, 'value', where, problems) ?? ''
  if (name === null) {
    if (value.name === undefined || value.name === null) problems.push(`${where}.name: required`)
    return null
  }
  if (!HEADER_NAME_RE.test(name)) {
    problems.push(`${where}.name: not a valid HTTP header name: ${JSON.stringify(name)}`)
    return null
  }
  if (!HEADER_VALUE_RE.test(headerValue)) {
    problems.push(`${where}.value: contains control characters: ${JSON.stringify(headerValue)}`)
    return null
  }
  return { name, value: headerValue }
}

function parseTcpSocket (value: unknown, where: string, userPort: number, timing: ProbeTiming, problems: string[]): TcpProbeSpec | null {
  if (!isRecord(value)) {
    problems.push(`${where}: expected an object, got ${describe(value)}`)
    return null
  }
  const port = readPort(value, where, userPort, problems)
  const host = readHost(value, where, problems)
  if (port === null || host === null) return null
  return { kind: 'tcp', host, port, ...timing }
}

function parseGrpc (value: unknown, where: string, userPort: number, timing: ProbeTiming, problems: string[]): GrpcProbeSpec | null {
  if (!isRecord(value)) {
    problems.push(`${where}: expected an object, got ${describe(value)}`)
    return null
  }
  const port = readPort(value, where, userPort, problems)
  const service = readString(value, 'service', where, problems) ?? ''
  if (port === null) return null
  return { kind: 'grpc', host: DEFAULT_HOST, port, service, ...timing }
}

/** Kubernetes IntOrString. Missing, 0 or "" -> the user port (the controller always sets it). */
function readPort (obj: Record<string, unknown>, where: string, userPort: number, problems: string[]): number | null {
  const value = obj.port
  if (value === undefined || value === null || value === 0 || value === '') return userPort
  let port: number
  if (typeof value === 'number') {
    port = value
  } else if (typeof value === 'string') {
    if (!/^[0-9]+$/.test(value)) {
      problems.push(`${where}.port: named ports are not supported (Knative re-targets probes at a port number), got ${JSON.stringify(value)}`)
      return null
    }
    port = Number(value)
  } else {
    problems.push(`${where}.port: expected an integer or a string, got ${describe(value)}`)
    return null
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    problems.push(`${where}.port: must be an integer in 1..65535, got ${JSON.stringify(value)}`)
    return null
  }
  return port
}

function readHost (obj: Record<string, unknown>, where: string, problems: string[]): string | null {
  const before = problems.length
  const host = readString(obj, 'host', where, problems) ?? ''
  if (problems.length > before) return null
  if (/[\s/]/.test(host)) {
    problems.push(`${where}.host: not a valid host name or IP: ${JSON.stringify(host)}`)
    return null
  }
  return host === '' ? DEFAULT_HOST : host
}

/** A string field; undefined/null -> null (absent); any other type is a problem (also null). */
function readString (obj: Record<string, unknown>, key: string, where: string, problems: string[]): string | null {
  const value = obj[key]
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') {
    problems.push(`${where}.${key}: expected a string, got ${describe(value)}`)
    return null
  }
  return value
}

/** A non-negative integer field (seconds or a count); absent -> null. */
function readCount (obj: Record<string, unknown>, key: string, where: string, problems: string[]): number | null {
  const value = obj[key]
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    problems.push(`${where}.${key}: must be an integer >= 0, got ${JSON.stringify(value)}`)
    return null
  }
  return value
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${JSON.stringify(value)}`
}

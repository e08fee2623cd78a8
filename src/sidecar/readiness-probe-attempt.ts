// One probe attempt against the user container: an HTTP GET, a TCP connect or a gRPC health check, bounded
// by a timeout, on a fresh connection each time (Knative's prober disables keep-alive). Probes are off the
// request hot path, so closures and per-attempt objects are fine here. An attempt never rejects: it
// resolves to null on success or to a one-line reason on failure (expected outcomes are values).
// node:http, node:https and node:http2 are loaded by the target that uses them, when it is created
// (process.getBuiltinModule): the default probe is a TCP connect, which needs none of them (issue 12).

import type http from 'node:http'
import type https from 'node:https'
import type http2 from 'node:http2'
import net from 'node:net'
import type { Timers } from '../shared/timers.ts'
import {
  GRPC_HEALTH_CHECK_PATH, GRPC_SERVING_STATUS_SERVING, decodeHealthCheckResponse, encodeHealthCheckRequest,
  servingStatusName,
} from './grpc-health-codec.ts'
import { KUBE_PROBE_USER_AGENT } from './readiness-probe-spec.ts'
import type { GrpcProbeSpec, HttpProbeSpec, ProbeSpec, TcpProbeSpec } from './readiness-probe-spec.ts'

/** null = the attempt succeeded; otherwise why it failed. */
export type ProbeOutcome = string | null

export interface ProbeTarget {
  /** For log lines, e.g. `GET http://127.0.0.1:8080/healthz`. */
  readonly description: string
  /** One attempt; aborting `signal` ends it at once with a failure. */
  attempt (timeoutMs: number, timers: Timers, signal: AbortSignal): Promise<ProbeOutcome>
}

/** A health response is a handful of bytes; anything past this is not a health response. */
const MAX_GRPC_RESPONSE_BYTES = 4096
const GRPC_STATUS_UNIMPLEMENTED = '12'

export function createProbeTarget (spec: ProbeSpec): ProbeTarget {
  switch (spec.kind) {
    case 'http': return new HttpProbeTarget(spec)
    case 'tcp': return new TcpProbeTarget(spec)
    case 'grpc': return new GrpcProbeTarget(spec)
  }
}

type Finish = (outcome: ProbeOutcome) => void

/**
 * Runs `start` (which opens a connection and returns how to tear it down) and settles exactly once: on
 * `finish`, on the timeout (with `onTimeout()`), or on abort. Teardown always runs.
 */
function runAttempt (timeoutMs: number, timers: Timers, signal: AbortSignal,
  start: (finish: Finish) => () => void, onTimeout: () => ProbeOutcome): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve('prober closed')
      return
    }
    let settled = false
    let teardown: (() => void) | null = null
    const onAbort = (): void => { finish('prober closed') }
    const timer = timers.setTimeout(() => { finish(onTimeout()) }, timeoutMs)
    const finish: Finish = (outcome) => {
      if (settled) return
      settled = true
      timer.cancel()
      signal.removeEventListener('abort', onAbort)
      if (teardown !== null) teardown()
      resolve(outcome)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      teardown = start(finish)
    } catch (err) {
      finish(errorText(err))
    }
    // `start` may have finished synchronously, before `teardown` was known.
    if (settled && teardown !== null) teardown()
  })
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function hostPort (host: string, port: number): string {
  // A colon can only be an IPv6 literal's (host names and IPv4 have none). Not net.isIPv6: its
  // first call compiles a large regular expression, ~5 ms of every sidecar's start (issue 12).
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

class HttpProbeTarget implements ProbeTarget {
  readonly description: string
  readonly #options: https.RequestOptions
  readonly #request: typeof http.request

  constructor (spec: HttpProbeSpec) {
    this.description = `GET ${spec.scheme}://${hostPort(spec.host, spec.port)}${spec.path}`
    // Knative (Go net/http) sends `User-Agent: kube-probe//` and then the configured headers with
    // Header.Add. Go writes only the first User-Agent and never a Host from the header map, so configured
    // User-Agent and Host headers have no effect there; we copy that.
    const headers: Record<string, string | string[]> = { 'User-Agent': KUBE_PROBE_USER_AGENT }
    for (const { name, value } of spec.headers) {
      const key = name.toLowerCase()
      if (key === 'user-agent' || key === 'host') continue
      const prev = headers[key]
      if (prev === undefined) headers[key] = value
      else if (Array.isArray(prev)) prev.push(value)
      else headers[key] = [prev, value]
    }
    this.#options = {
      method: 'GET',
      host: spec.host,
      port: spec.port,
      path: spec.path,
      headers,
      // A fresh connection per attempt, `Connection: close`: as Knative's prober, which disables keep-alive.
      agent: false,
      // The kubelet does not verify the certificate of an HTTPS probe target either.
      rejectUnauthorized: false,
    }
    this.#request = spec.scheme === 'https' ? process.getBuiltinModule('node:https').request : process.getBuiltinModule('node:http').request
  }

  attempt (timeoutMs: number, timers: Timers, signal: AbortSignal): Promise<ProbeOutcome> {
    // The verdict comes from the status line; the body is then drained. As in Go, where the drain runs after
    // the verdict, a body that never ends does not change the verdict once the status is known.
    let verdict: ProbeOutcome | undefined
    return runAttempt(timeoutMs, timers, signal, (finish) => {
      const req = this.#request(this.#options)
      req.on('response', (res) => {
        const status = res.statusCode ?? 0
        verdict = status >= 200 && status < 400
          ? null
          : `${this.description}: HTTP probe did not respond Ready, got status code: ${status}`
        const done = (): void => { finish(verdict ?? null) }
        res.on('end', done)
        res.on('error', done)
        res.on('close', done)
        res.resume()
      })
      req.on('error', (err) => { finish(verdict !== undefined ? verdict : `${this.description}: ${err.message}`) })
      req.end()
      return () => { req.destroy() }
    }, () => verdict !== undefined ? verdict : `${this.description}: timeout after ${timeoutMs} ms`)
  }
}

class TcpProbeTarget implements ProbeTarget {
  readonly description: string
  readonly #options: net.TcpNetConnectOpts

  constructor (spec: TcpProbeSpec) {
    this.description = `TCP ${hostPort(spec.host, spec.port)}`
    this.#options = { host: spec.host, port: spec.port }
  }

  attempt (timeoutMs: number, timers: Timers, signal: AbortSignal): Promise<ProbeOutcome> {
    return runAttempt(timeoutMs, timers, signal, (finish) => {
      const socket = net.connect(this.#options)
      socket.on('connect', () => { finish(null) })
      socket.on('error', (err) => { finish(`${this.description}: ${err.message}`) })
      return () => { socket.destroy() }
    }, () => `${this.description}: timeout after ${timeoutMs} ms`)
  }
}

class GrpcProbeTarget implements ProbeTarget {
  readonly description: string
  readonly #authority: string
  readonly #headers: http2.OutgoingHttpHeaders
  readonly #body: Buffer

  constructor (spec: GrpcProbeSpec) {
    this.description = `gRPC ${hostPort(spec.host, spec.port)} grpc.health.v1.Health/Check service=${JSON.stringify(spec.service)}`
    // h2c with prior knowledge, as grpc-go does over insecure credentials.
    this.#authority = `http://${hostPort(spec.host, spec.port)}`
    this.#headers = {
      ':method': 'POST',
      ':path': GRPC_HEALTH_CHECK_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': KUBE_PROBE_USER_AGENT,
    }
    this.#body = encodeHealthCheckRequest(spec.service)
  }

  attempt (timeoutMs: number, timers: Timers, signal: AbortSignal): Promise<ProbeOutcome> {
    return runAttempt(timeoutMs, timers, signal, (finish) => {
      let httpStatus = 0
      let grpcStatus: string | undefined
      let grpcMessage = ''
      const chunks: Buffer[] = []
      let received = 0
      const readStatus = (headers: http2.IncomingHttpHeaders): void => {
        const s = headers['grpc-status']
        if (typeof s === 'string') grpcStatus = s
        const m = headers['grpc-message']
        if (typeof m === 'string') grpcMessage = m
      }
      const verdict = (): ProbeOutcome => {
        if (httpStatus !== 200) return `${this.description}: unexpected HTTP status ${httpStatus}`
        if (grpcStatus === undefined) return `${this.description}: response without grpc-status`
        if (grpcStatus === GRPC_STATUS_UNIMPLEMENTED) {
          return `${this.description}: this server does not implement the grpc health protocol (grpc.health.v1.Health)`
        }
        if (grpcStatus !== '0') return `${this.description}: health rpc probe failed: grpc-status ${grpcStatus} ${grpcMessage}`.trimEnd()
        const status = decodeHealthCheckResponse(Buffer.concat(chunks, received))
        if (typeof status === 'string') return `${this.description}: ${status}`
        if (status !== GRPC_SERVING_STATUS_SERVING) return `${this.description}: service unhealthy (responded with "${servingStatusName(status)}")`
        return null
      }

      const session = process.getBuiltinModule('node:http2').connect(this.#authority)
      session.on('error', (err) => { finish(`${this.description}: ${err.message}`) })
      const stream = session.request(this.#headers)
      stream.on('response', (headers) => {
        httpStatus = headers[':status'] ?? 0
        readStatus(headers) // a trailers-only response carries grpc-status in the headers
      })
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > MAX_GRPC_RESPONSE_BYTES) {
          finish(`${this.description}: response larger than ${MAX_GRPC_RESPONSE_BYTES} bytes`)
          return
        }
        chunks.push(chunk)
      })
      stream.on('trailers', readStatus)
      stream.on('error', (err) => { finish(`${this.description}: ${err.message}`) })
      stream.on('close', () => { finish(verdict()) })
      stream.end(this.#body)
      return () => { session.destroy() }
    }, () => `${this.description}: health rpc did not complete within ${timeoutMs} ms`)
  }
}

import { connect, type Socket } from 'node:net'
import { H1ResponseParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, type ResponseHeaders, type ResponseSink } from './h1-response-parser.ts'
import type { SecureDialer } from './secure-dialer.ts'
import { ACTIVATOR_PROBE_UA } from '../shared/probe-headers.ts'

// One readiness probe of an endpoint (a pod's sidecar), exactly as Knative's activator sends it (revision_backends.go):
// `GET http://<dest>/healthz` with `K-Network-Probe: queue` and `User-Agent: Knative-Activator-Probe`.
// The sidecar's Drainer recognises the user agent and runs its readiness check; success is status 200
// AND body `queue` (anything else, e.g. a plain web server answering 200, is not a sidecar).
// With system-internal-tls the same request goes over TLS (internal-tls.ts gives the dialer);
// Knative's activator still probes plain HTTP there (its TODO, serving issue
// 12821), but then a pod whose certificate fails verification passes its probe and fails every
// request, where a TLS probe keeps it out of rotation.
//
// One connection per attempt (`Connection: close`), read with the proxy's own response parser: a
// pod is probed only until it passes, so there is nothing to keep alive, and the activator does not
// load undici for it (~27 MB and ~60 ms at import; issue 12).
// Used by the activator's EndpointProber and by the one-machine platform's pod start (local-pod.ts).

/** What the prober needs: one attempt, true when the endpoint is ready. Never rejects. */
export interface EndpointProbe {
  probe (dest: string, timeoutMs: number): Promise<boolean>
}

export const PROBE_PATH = '/healthz'
export const PROBE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'k-network-probe': 'queue',
  'user-agent': ACTIVATOR_PROBE_UA,
})
const EXPECTED_BODY = 'queue'
/** A sidecar answers `queue`; read at most this much of anything else. */
const MAX_BODY_BYTES = 64

/** One attempt's outcome as Knative's mesh detection reads it (revision_backends.go probe, checkMesh). */
export const PROBE_READY = 0
/** Failed the way a mesh makes a direct pod probe fail: no response at all, or 502/503 (knative.dev/networking IsPotentialMeshErrorResponse). */
export const PROBE_FAILED_MESHLIKE = 1
/** Failed with any other answer: something other than a mesh answered, so the pods are addressable. */
export const PROBE_FAILED_NOT_MESH = 2
export type ProbeVerdict = typeof PROBE_READY | typeof PROBE_FAILED_MESHLIKE | typeof PROBE_FAILED_NOT_MESH

/** A probe that can say why it failed (mesh-compatibility-mode auto); HttpEndpointProbe is one. */
export interface VerdictProbe {
  probeVerdict (dest: string, timeoutMs: number): Promise<ProbeVerdict>
}

/** Told why an attempt failed to connect (the TLS probe logs verification failures). */
export interface ProbeErrorListener {
  onProbeError (dest: string, err: Error): void
}

export interface HttpEndpointProbeOptions {
  /** Dials TLS (internal TLS); null/absent = plain TCP. */
  readonly dialer?: SecureDialer | null
  readonly onError?: ProbeErrorListener | null
}

/** Bare host (IPv6 without brackets) and port of `host:port` / `[v6]:port`. */
function splitDest (dest: string): { host: string, port: number } {
  const colon = dest.lastIndexOf(':')
  const host = dest.slice(0, colon)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(dest.slice(colon + 1)) }
}

const MAX_HEAD_BYTES = 16 * 1024

/** One attempt: its socket, the parser's sink, the timer; settles once. Control plane (a probe a second per pod at most). */
class ProbeAttempt implements ResponseSink {
  readonly #socket: Socket
  readonly #parser: H1ResponseParser
  readonly #timer: NodeJS.Timeout
  readonly #resolve: (v: ProbeVerdict) => void
  readonly #onError: (err: Error) => void
  readonly #dialer: SecureDialer | null
  #isConnected = false
  #status = 0
  #body = ''
  #isSettled = false

  constructor (socket: Socket, dialer: SecureDialer | null, timeoutMs: number, resolve: (v: ProbeVerdict) => void, onError: (err: Error) => void) {
    this.#socket = socket
    this.#dialer = dialer
    this.#resolve = resolve
    this.#onError = onError
    this.#parser = new H1ResponseParser(this, MAX_HEAD_BYTES)
    this.#parser.reset(false)
    this.#timer = setTimeout(() => { this.#fail(new Error(`probe timed out after ${timeoutMs} ms`)) }, timeoutMs)
  }

  /** Sends `request` once the connection is up (over TLS: once the handshake is). */
  start (request: string): void {
    const socket = this.#socket
    socket.once(this.#dialer === null ? 'connect' : 'secureConnect', () => {
      this.#isConnected = true
      socket.write(request)
    })
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    socket.on('end', () => { this.#onEnd() })
    // Before the connection is up, a TLS dialer says which errors are the handshake's.
    socket.on('error', (err: Error) => { this.#fail(this.#isConnected || this.#dialer === null ? err : this.#dialer.connectError(err)) })
    socket.on('close', () => { this.#fail(new Error('connection closed before a response')) })
  }

  onParsedHead (statusCode: number, _statusText: string, _headers: ResponseHeaders): boolean {
    this.#status = statusCode
    return true
  }

  onParsedBody (chunk: Buffer): boolean {
    this.#body += chunk.toString('latin1')
    return this.#body.length <= MAX_BODY_BYTES
  }

  #onData (chunk: Buffer): void {
    if (this.#isSettled) return
    const r = this.#parser.execute(chunk, chunk.length)
    if (r === PARSE_MORE) return
    if (r === PARSE_DONE) { this.#settle(this.#verdict()); return }
    // PARSE_ERROR: not HTTP we can read (as a failed connection); PARSE_STOPPED: more body than a
    // sidecar's answer, so whatever answered is not one.
    if (r === PARSE_ERROR) this.#fail(new Error(`malformed probe response: ${this.#parser.errorMessage}`))
    else this.#settle(this.#status === 200 ? PROBE_FAILED_NOT_MESH : this.#verdict())
  }

  #onEnd (): void {
    if (this.#isSettled) return
    if (this.#parser.finish()) this.#settle(this.#verdict())
    else this.#fail(new Error('connection closed before a whole response'))
  }

  #verdict (): ProbeVerdict {
    if (this.#status === 200) return this.#body === EXPECTED_BODY ? PROBE_READY : PROBE_FAILED_NOT_MESH
    return this.#status === 502 || this.#status === 503 ? PROBE_FAILED_MESHLIKE : PROBE_FAILED_NOT_MESH
  }

  /** Refused, reset, timed out, cut short: not ready (the prober retries on its schedule). */
  #fail (err: Error): void {
    if (this.#isSettled) return
    // A status other than 200 already read (its body cut short) still says what answered.
    this.#settle(this.#status === 0 || this.#status === 200 ? PROBE_FAILED_MESHLIKE : this.#verdict())
    this.#onError(err)
  }

  #settle (v: ProbeVerdict): void {
    if (this.#isSettled) return
    this.#isSettled = true
    clearTimeout(this.#timer)
    this.#socket.destroy()
    this.#resolve(v)
  }
}

export class HttpEndpointProbe implements EndpointProbe, VerdictProbe {
  readonly #dialer: SecureDialer | null
  readonly #onError: ProbeErrorListener | null

  constructor (options: HttpEndpointProbeOptions = {}) {
    this.#dialer = options.dialer ?? null
    this.#onError = options.onError ?? null
  }

  async probe (dest: string, timeoutMs: number): Promise<boolean> {
    return await this.probeVerdict(dest, timeoutMs) === PROBE_READY
  }

  probeVerdict (dest: string, timeoutMs: number): Promise<ProbeVerdict> {
    const { host, port } = splitDest(dest)
    const request = `GET ${PROBE_PATH} HTTP/1.1\r\nHost: ${dest}\r\nK-Network-Probe: ${PROBE_HEADERS['k-network-probe']}\r\nUser-Agent: ${PROBE_HEADERS['user-agent']}\r\nConnection: close\r\n\r\n`
    return new Promise((resolve) => {
      let socket: Socket
      try {
        socket = this.#dialer === null ? connect({ host, port, noDelay: true }) : this.#dialer.connect(host, port)
      } catch (err) {
        this.#reportError(dest, err)
        resolve(PROBE_FAILED_MESHLIKE)
        return
      }
      const attempt = new ProbeAttempt(socket, this.#dialer, timeoutMs, resolve, (err) => { this.#reportError(dest, err) })
      attempt.start(request)
    })
  }

  #reportError (dest: string, err: unknown): void {
    if (this.#onError !== null && err instanceof Error) this.#onError.onProbeError(dest, err)
  }

  /** Nothing to close: every attempt closes its own connection. */
  async close (): Promise<void> {}
}

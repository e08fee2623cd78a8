import { Agent, request, type Dispatcher } from 'undici'

// One readiness probe of an endpoint, exactly as Knative's activator sends it (revision_backends.go):
// `GET http://<dest>/healthz` with `K-Network-Probe: queue` and `User-Agent: Knative-Activator-Probe`.
// The sidecar's Drainer recognises the user agent and runs its readiness check; success is status 200
// AND body `queue` (anything else, e.g. a plain web server answering 200, is not a sidecar).
// With system-internal-tls the same request goes over TLS (internal-tls.ts gives the dispatcher
// that dials it); Knative's activator still probes plain HTTP there (its TODO, serving issue
// 12821), but then a pod whose certificate fails verification passes its probe and fails every
// request, where a TLS probe keeps it out of rotation.

/** What the prober needs: one attempt, true when the endpoint is ready. Never rejects. */
export interface EndpointProbe {
  probe (dest: string, timeoutMs: number): Promise<boolean>
}

export const PROBE_PATH = '/healthz'
export const PROBE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'k-network-probe': 'queue',
  'user-agent': 'Knative-Activator-Probe',
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
  /** 'https' when the dispatcher dials TLS. Default 'http'. */
  readonly scheme?: 'http' | 'https'
  readonly onError?: ProbeErrorListener | null
}

export class HttpEndpointProbe implements EndpointProbe {
  readonly #dispatcher: Dispatcher
  readonly #ownsDispatcher: boolean
  readonly #scheme: string
  readonly #onError: ProbeErrorListener | null

  /** `dispatcher`: default a private Agent (probes never queue behind traffic on a pod's pool). */
  constructor (dispatcher: Dispatcher | null = null, options: HttpEndpointProbeOptions = {}) {
    this.#ownsDispatcher = dispatcher === null
    this.#dispatcher = dispatcher ?? new Agent({ keepAliveTimeout: 2_000, connect: { timeout: 1_000 } })
    this.#scheme = options.scheme ?? 'http'
    this.#onError = options.onError ?? null
  }

  async probe (dest: string, timeoutMs: number): Promise<boolean> {
    return await this.probeVerdict(dest, timeoutMs) === PROBE_READY
  }

  async probeVerdict (dest: string, timeoutMs: number): Promise<ProbeVerdict> {
    try {
      const res = await request(`${this.#scheme}://${dest}${PROBE_PATH}`, {
        method: 'GET',
        headers: PROBE_HEADERS,
        dispatcher: this.#dispatcher,
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (res.statusCode !== 200) {
        await res.body.dump({ limit: MAX_BODY_BYTES })
        return res.statusCode === 502 || res.statusCode === 503 ? PROBE_FAILED_MESHLIKE : PROBE_FAILED_NOT_MESH
      }
      let body = ''
      for await (const chunk of res.body) {
        body += String(chunk)
        if (body.length > MAX_BODY_BYTES) { res.body.destroy(); return PROBE_FAILED_NOT_MESH }
      }
      return body === EXPECTED_BODY ? PROBE_READY : PROBE_FAILED_NOT_MESH
    } catch (err) {
      // Refused, reset, timed out: not ready. The prober retries on its schedule.
      if (this.#onError !== null && err instanceof Error) this.#onError.onProbeError(dest, err)
      return PROBE_FAILED_MESHLIKE
    }
  }

  async close (): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close().catch(() => {})
  }
}

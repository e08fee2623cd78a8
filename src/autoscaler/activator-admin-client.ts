// Client of the activator's revision admin API (`sluice activator --admin-port`):
//   PUT    /revisions/{namespace}/{name}   body: {containerConcurrency, endpoints, notReadyEndpoints?, hosts, timeoutSeconds}
//   DELETE /revisions/{namespace}/{name}
// A PUT replaces the revision, so the local actuator always sends the full endpoint list. With a
// token (the activator's --admin-token-file), every call carries `Authorization: Bearer <token>`.
// Also the activator probe used before a revision's last pod goes (Knative's activatorProbe):
// GET on the activator's traffic port with `K-Network-Probe: activator` must answer 200 `activator`.

import { Agent, request, type Dispatcher } from 'undici'
import { ActivatorAdminError } from '../shared/errors.ts'
import { AUTOSCALING_PROBE_UA } from '../shared/probe-headers.ts'

/** The body of a PUT (the activator's RevisionSpec wire form). */
export interface ActivatorRevision {
  readonly namespace: string
  readonly name: string
  readonly containerConcurrency: number
  /** Sidecar serving addresses, `host:port`. */
  readonly endpoints: readonly string[]
  /** Sidecars of pods still starting: the activator probes them and uses one once it answers. Absent = none. */
  readonly notReadyEndpoints?: readonly string[]
  readonly hosts: readonly string[]
  readonly timeoutSeconds: number | null
}

/** What the local actuator needs from the activator (an interface, so tests pass a recorder). */
export interface ActivatorAdmin {
  putRevision (revision: ActivatorRevision): Promise<void>
  deleteRevision (namespace: string, name: string): Promise<void>
}

const TIMEOUT_MS = 5_000

function revisionPath (namespace: string, name: string): string {
  return `/revisions/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`
}

export class ActivatorAdminClient implements ActivatorAdmin {
  /** e.g. http://127.0.0.1:8022 */
  readonly adminUrl: string
  /** e.g. http://127.0.0.1:8012; '' = no probe (always ready). */
  readonly trafficUrl: string
  readonly #agent: Agent
  /** `Bearer <token>`; null = no Authorization header. */
  readonly #authorization: string | null

  constructor (adminUrl: string, trafficUrl = '', token = '') {
    this.adminUrl = adminUrl.replace(/\/+$/, '')
    this.trafficUrl = trafficUrl.replace(/\/+$/, '')
    this.#authorization = token === '' ? null : `Bearer ${token}`
    this.#agent = new Agent({ connections: 4, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
  }

  async putRevision (r: ActivatorRevision): Promise<void> {
    const body = JSON.stringify({
      containerConcurrency: r.containerConcurrency,
      endpoints: r.endpoints,
      ...(r.notReadyEndpoints !== undefined && r.notReadyEndpoints.length > 0 ? { notReadyEndpoints: r.notReadyEndpoints } : {}),
      hosts: r.hosts,
      timeoutSeconds: r.timeoutSeconds,
    })
    await this.#call('PUT', revisionPath(r.namespace, r.name), body)
  }

  async deleteRevision (namespace: string, name: string): Promise<void> {
    await this.#call('DELETE', revisionPath(namespace, name), null, true)
  }

  /** True when the activator answers its own probe (it is up and would take the revision's traffic). */
  async probe (): Promise<boolean> {
    if (this.trafficUrl === '') return true
    try {
      const res = await request(this.trafficUrl + '/', {
        dispatcher: this.#agent,
        headers: { 'k-network-probe': 'activator', 'user-agent': AUTOSCALING_PROBE_UA },
        signal: AbortSignal.timeout(1_000),
      })
      const text = await res.body.text()
      return res.statusCode === 200 && text === 'activator'
    } catch {
      return false
    }
  }

  close (): Promise<void> {
    return this.#agent.close()
  }

  async #call (method: 'PUT' | 'DELETE', path: string, body: string | null, notFoundOk = false): Promise<void> {
    const headers: Record<string, string> = {}
    if (body !== null) headers['content-type'] = 'application/json'
    if (this.#authorization !== null) headers.authorization = this.#authorization
    let res: Dispatcher.ResponseData
    try {
      res = await request(this.adminUrl + path, {
        method,
        dispatcher: this.#agent,
        headers,
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
    } catch (err) {
      throw new ActivatorAdminError(`${method} ${path}: activator admin API unreachable`, { cause: err })
    }
    const text = await res.body.text()
    if (res.statusCode >= 200 && res.statusCode < 300) return
    if (notFoundOk && res.statusCode === 404) return
    throw new ActivatorAdminError(`${method} ${path}: activator answered ${res.statusCode} ${text.slice(0, 200)}`)
  }
}

// Reads the activator's per-revision queue depth for the status page: polls the activator's
// Prometheus metrics every second and keeps `sluice_activator_queued_requests{namespace,revision}`,
// and the last cold start's instants (cold-start-breakdown.ts) from the same scrape.
// Best effort: when the activator is unreachable (or is not Sluice's) depths are unknown (null).

import { Agent, request } from 'undici'
import type { TimerHandle, Timers } from '../shared/timers.ts'
import { samplesOf } from '../stats/prometheus-samples.ts'
import { revisionKeyOf } from './actuator.ts'
import { parseActivatorColdStarts, type ActivatorColdStart } from './cold-start-breakdown.ts'

const FAMILY = 'sluice_activator_queued_requests'
const MAX_REVISIONS = 10_000

/** Parses the queue gauge lines of a Prometheus text body into revision key -> depth. */
export function parseActivatorQueueDepths (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const { labels, value } of samplesOf(text, FAMILY)) {
    const revision = labels.get('revision') ?? ''
    if (revision !== '' && out.size < MAX_REVISIONS) out.set(revisionKeyOf(labels.get('namespace') ?? '', revision), value)
  }
  return out
}

export class ActivatorQueuePoller {
  readonly #url: string
  readonly #timers: Timers
  readonly #intervalMs: number
  readonly #agent: Agent
  #depths: Map<string, number> | null
  #coldStarts: Map<string, ActivatorColdStart>
  #timer: TimerHandle | null
  #busy: boolean

  /** `metricsUrl`: e.g. http://127.0.0.1:9090/metrics */
  constructor (metricsUrl: string, timers: Timers, intervalMs = 1_000) {
    this.#url = metricsUrl
    this.#timers = timers
    this.#intervalMs = intervalMs
    this.#agent = new Agent({ connections: 1, headersTimeout: 2_000, bodyTimeout: 2_000 })
    this.#depths = null
    this.#coldStarts = new Map()
    this.#timer = null
    this.#busy = false
  }

  start (): void {
    if (this.#timer !== null) return
    this.#timer = this.#timers.setInterval(() => { void this.poll() }, this.#intervalMs)
    void this.poll()
  }

  /** Requests buffered in the activator for the revision; null when unknown. */
  depth (namespace: string, name: string): number | null {
    if (this.#depths === null) return null
    return this.#depths.get(revisionKeyOf(namespace, name)) ?? 0
  }

  /** The activator's instants of the revision's last cold start; null before any (kept while unreachable). */
  coldStart (namespace: string, name: string): ActivatorColdStart | null {
    return this.#coldStarts.get(revisionKeyOf(namespace, name)) ?? null
  }

  async poll (): Promise<void> {
    if (this.#busy) return
    this.#busy = true
    try {
      const res = await request(this.#url, { dispatcher: this.#agent, headers: { accept: 'text/plain' }, signal: AbortSignal.timeout(2_000) })
      const text = await res.body.text()
      this.#depths = res.statusCode === 200 ? parseActivatorQueueDepths(text) : null
      if (res.statusCode === 200) this.#coldStarts = parseActivatorColdStarts(text)
    } catch {
      this.#depths = null
    } finally {
      this.#busy = false
    }
  }

  async close (): Promise<void> {
    this.#timer?.cancel()
    this.#timer = null
    await this.#agent.close()
  }
}

import type { MetricsSource } from '../stats/metrics-server.ts'
import { escapeHelp, escapeLabelValue, formatSampleValue } from '../stats/prometheus-text.ts'
import type { ProxyMetrics } from '../stats/proxy-metrics.ts'
import { buildStatSnapshot, type StatSnapshot } from '../stats/stat-snapshot.ts'
import { NOT_YET } from './cold-start-timeline.ts'
import type { ConcurrencyReporter } from './concurrency-reporter.ts'
import type { Revision } from './revision.ts'

// The activator's /metrics (MetricsSource for the shared metrics server): Knative's queue gauges with
// one label set per revision (destination_pod = this activator), then per-revision activator families,
// then Sluice's ProxyMetrics for the whole process. Rebuilt once per reporting period (after the
// concurrency reporter closed it), so a scrape only copies bytes. There is no single Stat, so
// protobuf scrapes get 406.

export interface RevisionList {
  revisions (): IterableIterator<Revision>
}

function header (name: string, type: string, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`
}

const COLD_START = 'sluice_activator_cold_start_seconds'
const COLD_START_HEADER = header(COLD_START, 'histogram',
  'Cold starts: from the first request buffered while the revision had no ready endpoint to the first buffered request forwarded')
const ABANDONED_HEADER = header('sluice_activator_cold_starts_abandoned_total', 'counter',
  'Cold starts whose buffered requests all left (timeout, client gone) before an endpoint became ready')
const READY_TO_FORWARD_HEADER = header('sluice_activator_last_ready_to_forward_seconds', 'gauge',
  'Last cold start: from the first endpoint becoming ready (probe success) to the first buffered request forwarded')
const LAST_COLD_START = 'sluice_activator_last_cold_start_timestamp_seconds'
const LAST_COLD_START_HEADER = header(LAST_COLD_START, 'gauge',
  'Last cold start, as Unix times: the first request buffered with no ready endpoint (event="request"), the first endpoint ready (endpoint_ready), the first buffered request forwarded (forwarded), its response starting (first_byte)')
const COLD_START_EVENTS = ['request', 'endpoint_ready', 'forwarded', 'first_byte'] as const
const ENDPOINTS_HEADER = header('sluice_activator_endpoints', 'gauge', 'Endpoints of the revision, by probe state')
const CAPACITY_HEADER = header('sluice_activator_capacity', 'gauge',
  'Requests this activator may have in flight to the revision (+Inf when containerConcurrency is 0)')
const IN_FLIGHT_HEADER = header('sluice_activator_in_flight_requests', 'gauge', 'Requests admitted to the revision and not finished')
const QUEUED_HEADER = header('sluice_activator_queued_requests', 'gauge', 'Requests buffered for the revision, waiting for capacity')

const STATES = ['probing', 'ready', 'failed'] as const

export class ActivatorMetrics implements MetricsSource {
  readonly proxyMetrics: ProxyMetrics
  readonly #reporter: ConcurrencyReporter
  readonly #revisions: RevisionList
  #snapshot: StatSnapshot

  constructor (reporter: ConcurrencyReporter, revisions: RevisionList, proxyMetrics: ProxyMetrics) {
    this.#reporter = reporter
    this.#revisions = revisions
    this.proxyMetrics = proxyMetrics
    this.#snapshot = this.#build()
  }

  snapshot (): StatSnapshot { return this.#snapshot }

  /** After a period closed: refresh quantiles and re-render everything. */
  refresh (nowMs: number): void {
    this.proxyMetrics.tick(nowMs)
    this.#snapshot = this.#build()
  }

  #build (): StatSnapshot {
    const base = buildStatSnapshot(this.#reporter.entries())
    return Object.freeze({
      entries: base.entries,
      protobuf: null,
      prometheus: Buffer.concat([base.prometheus, Buffer.from(this.#renderRevisions(), 'utf8')]),
      statsJson: base.statsJson,
    })
  }

  #renderRevisions (): string {
    const revisions = [...this.#revisions.revisions()]
    if (revisions.length === 0) return ''
    const labels = revisions.map((r) => `namespace="${escapeLabelValue(r.spec.namespace)}",revision="${escapeLabelValue(r.spec.name)}"`)
    let cold = COLD_START_HEADER
    let abandoned = ABANDONED_HEADER
    let readyToForward = READY_TO_FORWARD_HEADER
    let lastColdStart = LAST_COLD_START_HEADER
    let endpoints = ENDPOINTS_HEADER
    let capacity = CAPACITY_HEADER
    let inFlight = IN_FLIGHT_HEADER
    let queued = QUEUED_HEADER
    for (let i = 0; i < revisions.length; i++) {
      const r = revisions[i]
      const l = labels[i]
      if (r === undefined || l === undefined) continue
      const p = r.proxy
      cold += p.coldStarts.render(COLD_START, l)
      abandoned += `sluice_activator_cold_starts_abandoned_total{${l}} ${p.coldStartsAbandoned}\n`
      if (!Number.isNaN(p.lastReadyToForwardMs)) readyToForward += `sluice_activator_last_ready_to_forward_seconds{${l}} ${formatSampleValue(p.lastReadyToForwardMs / 1000)}\n`
      const c = p.lastColdStart
      if (c.hasRequest) {
        const at = [c.requestWallMs, c.endpointReadyWallMs, c.forwardedWallMs, c.firstByteWallMs]
        for (let e = 0; e < COLD_START_EVENTS.length; e++) {
          const ms = at[e] ?? NOT_YET
          if (ms !== NOT_YET) lastColdStart += `${LAST_COLD_START}{${l},event="${COLD_START_EVENTS[e] ?? ''}"} ${formatSampleValue(ms / 1000)}\n`
        }
      }
      const counts = [0, 0, 0]
      for (const t of r.trackers()) if (t.state < counts.length) counts[t.state] = (counts[t.state] ?? 0) + 1
      for (let s = 0; s < STATES.length; s++) endpoints += `sluice_activator_endpoints{${l},state="${STATES[s] ?? ''}"} ${counts[s] ?? 0}\n`
      capacity += `sluice_activator_capacity{${l}} ${formatSampleValue(r.throttler.capacity)}\n`
      inFlight += `sluice_activator_in_flight_requests{${l}} ${r.throttler.inFlight}\n`
      queued += `sluice_activator_queued_requests{${l}} ${r.throttler.queued}\n`
    }
    return cold + abandoned + readyToForward + lastColdStart + endpoints + capacity + inFlight + queued
  }
}

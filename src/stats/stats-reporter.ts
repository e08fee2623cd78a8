// One pod's stats over time: owns the RequestStats the request path feeds, closes a period every `periodMs`
// (Knative's reportingPeriod, 1 s) and keeps the resulting Stat plus its serialized bodies for scrapes.
// Conversions as Knative's ProtobufStatsReporter: counts become rates by dividing by the configured period
// (not the measured one), processUptime is seconds since this reporter was created, timestamp stays 0.
// Before the first period closes, `latest()` is a Stat with only podName set, as in Knative.

import type { Clock } from '../shared/clock.ts'
import { realClock } from '../shared/clock.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import type { ProxyMetrics } from './proxy-metrics.ts'
import type { RequestStatsRecorder, StatWindow } from './request-stats.ts'
import { newStatWindow, NOOP_STATS, RequestStats } from './request-stats.ts'
import type { LabeledStat, QueueLabels, Stat } from './stat.ts'
import { emptyStat } from './stat.ts'
import type { StatSnapshot } from './stat-snapshot.ts'
import { buildStatSnapshot } from './stat-snapshot.ts'

export const DEFAULT_REPORTING_PERIOD_MS = 1000

export interface StatsReporterOptions {
  podName: string
  /** Prometheus labels besides the pod (destination_pod is podName). Default ''. */
  namespace?: string
  configuration?: string
  revision?: string
  clock?: Clock
  periodMs?: number
  /**
   * false (`--no-stats`): the request path gets NOOP_STATS, so stats cost nothing and every Stat reports 0
   * requests (uptime still grows, ProxyMetrics still tick). For benchmarks; Knative's autoscaler needs
   * stats. Default true.
   */
  enabled?: boolean
  /** Ticked with each period so its quantiles are fresh; served by the metrics endpoint. */
  proxyMetrics?: ProxyMetrics | null
  /** The period timer; default realTimers (unref'd: the servers keep the process alive, a reporter alone should not). */
  timers?: Timers
}

export class StatsReporter {
  /** What the request path calls: `reporter.stats.reqIn(proxied, clock.nowMs())`. */
  readonly stats: RequestStatsRecorder
  readonly proxyMetrics: ProxyMetrics | null
  readonly periodMs: number
  readonly #clock: Clock
  readonly #podName: string
  readonly #labels: QueueLabels
  readonly #startMs: number
  readonly #periodSeconds: number
  readonly #enabled: boolean
  readonly #window: StatWindow
  readonly #timers: Timers
  readonly #onTick: () => void
  #timer: TimerHandle | null = null
  #latest: Stat
  #snapshot: StatSnapshot

  constructor (options: StatsReporterOptions) {
    this.#clock = options.clock ?? realClock
    this.#podName = options.podName
    this.#labels = Object.freeze({
      namespace: options.namespace ?? '',
      configuration: options.configuration ?? '',
      revision: options.revision ?? '',
      pod: options.podName,
    })
    this.periodMs = options.periodMs ?? DEFAULT_REPORTING_PERIOD_MS
    if (!(this.periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${this.periodMs}`)
    this.#periodSeconds = this.periodMs / 1000
    this.#enabled = options.enabled ?? true
    this.proxyMetrics = options.proxyMetrics ?? null
    this.#startMs = this.#clock.nowMs()
    this.stats = this.#enabled ? new RequestStats(this.#startMs) : NOOP_STATS
    this.#window = newStatWindow()
    this.#timers = options.timers ?? realTimers
    this.#onTick = () => { this.tick() }
    this.#latest = emptyStat(this.#podName)
    this.#snapshot = buildStatSnapshot([{ labels: this.#labels, stat: this.#latest }])
  }

  get enabled (): boolean { return this.#enabled }
  get labels (): QueueLabels { return this.#labels }

  /** Starts the period timer (no-op when already started). */
  start (): void {
    if (this.#timer !== null) return
    this.#timer = this.#timers.setInterval(this.#onTick, this.periodMs)
  }

  stop (): void {
    if (this.#timer === null) return
    this.#timer.cancel()
    this.#timer = null
  }

  /** Closes the current period now: computes the Stat once and serializes it. Tests call it directly. */
  tick (): void {
    const nowMs = this.#clock.nowMs()
    const w = this.#window
    this.stats.report(nowMs, w)
    const stat: Stat = {
      podName: this.#podName,
      averageConcurrentRequests: w.averageConcurrency,
      averageProxiedConcurrentRequests: w.averageProxiedConcurrency,
      requestCount: w.requestCount / this.#periodSeconds,
      proxiedRequestCount: w.proxiedRequestCount / this.#periodSeconds,
      processUptime: (nowMs - this.#startMs) / 1000,
      timestamp: 0,
    }
    const entry: LabeledStat = { labels: this.#labels, stat }
    this.#latest = stat
    this.#snapshot = buildStatSnapshot([entry])
    this.proxyMetrics?.tick(nowMs)
  }

  /** The Stat of the last closed period (treat as read-only). */
  latest (): Stat { return this.#latest }

  /** The last closed period, serialized (MetricsSource). */
  snapshot (): StatSnapshot { return this.#snapshot }

  reqIn (proxied: boolean, nowMs: number): void { this.stats.reqIn(proxied, nowMs) }
  reqOut (proxied: boolean, nowMs: number): void { this.stats.reqOut(proxied, nowMs) }
}

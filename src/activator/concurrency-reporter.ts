import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import { newStatWindow, RequestStats, type StatWindow } from '../stats/request-stats.ts'
import { emptyStat, type LabeledStat, type QueueLabels, type Stat, type WireStatMessage } from '../stats/stat.ts'

// The activator's measurement for the autoscaler (Knative's activator/handler/concurrency_reporter.go).
//
// - Per revision a RequestStats fed with reqIn when a request is routed to the revision and reqOut when
//   it ends, so the time a request waits in the throttler for a pod counts as concurrency: that is what
//   lets the autoscaler see demand for a revision at zero. Requests are never marked proxied here.
// - Cold-start poke: the first request for a revision without a stats entry creates the entry and, at
//   once, sends one message {averageConcurrentRequests: 1, requestCount: 1}, so the autoscaler can scale
//   from zero without waiting for the next period. The next periodic report subtracts that 1 from the
//   average (floored at 0) and from the count, so it is not counted twice.
// - Every period (1 s) one batch with a Stat per tracked revision: pod_name = this activator; proxied
//   fields, uptime and timestamp 0 (as Knative). An entry whose average was 0 over the period and that
//   has nothing in flight is dropped after that report, so the next request pokes again.
//
// For /metrics the same periods are kept per registered revision, unadjusted (the poke is a protocol
// device; the metrics show the traffic as measured).

/** Where stat batches go (the websocket pusher to the autoscaler). Declared here, by its consumer. */
export interface StatSink {
  send (messages: readonly WireStatMessage[]): void
}

/**
 * Where each period's per-revision concurrency goes as a metric (OpenTelemetry's
 * kn.revision.request.concurrency, src/telemetry/); declared here, by its consumer.
 */
export interface ConcurrencyRecorder {
  recordConcurrency (namespace: string, name: string, concurrency: number): void
}

export const REPORT_PERIOD_MS = 1_000

export interface ConcurrencyReporterOptions {
  /** Stat pod_name: the activator's POD_NAME. */
  podName: string
  /** null: no autoscaler configured (stats still kept for /metrics). */
  sink: StatSink | null
  clock?: Clock
  periodMs?: number
  /** The period timer; default realTimers (unref'd: the servers keep the process alive). */
  timers?: Timers
  /** Called after each period closed (the metrics snapshot is rebuilt there). */
  onReport?: ((nowMs: number) => void) | null
  logger?: Logger | null
}

/** One revision's counters. The request path holds it and calls reqIn/reqOut; never allocated per request. */
export class RevisionConcurrency {
  readonly namespace: string
  readonly name: string
  readonly labels: QueueLabels
  /** null while untracked (no request for a whole period): the next reqIn pokes. */
  stats: RequestStats | null
  /** 1 after a poke, until the next report subtracted it. */
  firstRequest: number
  /** The last closed period, unadjusted (metrics). */
  latest: Stat
  isRegistered: boolean
  readonly #reporter: ConcurrencyReporter

  constructor (reporter: ConcurrencyReporter, namespace: string, name: string, podName: string) {
    this.namespace = namespace
    this.name = name
    this.labels = Object.freeze({ namespace, configuration: '', revision: name, pod: podName })
    this.stats = null
    this.firstRequest = 0
    this.latest = emptyStat(podName)
    this.isRegistered = true
    this.#reporter = reporter
  }

  get inFlight (): number { return this.stats === null ? 0 : this.stats.inFlight }

  reqIn (nowMs: number): void {
    let stats = this.stats
    if (stats === null) stats = this.#reporter.track(this, nowMs)
    stats.reqIn(false, nowMs)
  }

  reqOut (nowMs: number): void {
    // Not null: an entry with requests in flight is never dropped.
    if (this.stats !== null) this.stats.reqOut(false, nowMs)
  }
}

export class ConcurrencyReporter {
  readonly podName: string
  readonly periodMs: number
  readonly #sink: StatSink | null
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #onReport: ((nowMs: number) => void) | null
  readonly #logger: Logger | null
  readonly #registered = new Set<RevisionConcurrency>()
  /** Revisions with a stats entry (seen a request within the last period). */
  readonly #tracked = new Set<RevisionConcurrency>()
  readonly #window: StatWindow = newStatWindow()
  readonly #startMs: number
  #timer: TimerHandle | null = null
  /** Set once OpenTelemetry is loaded (useRecorder); null while telemetry is off. */
  #recorder: ConcurrencyRecorder | null = null
  /** Batches and pokes handed to the sink (tests, metrics). */
  batchesSent = 0
  pokesSent = 0

  constructor (o: ConcurrencyReporterOptions) {
    this.podName = o.podName
    this.periodMs = o.periodMs ?? REPORT_PERIOD_MS
    if (!(this.periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${this.periodMs}`)
    this.#sink = o.sink
    this.#clock = o.clock ?? realClock
    this.#timers = o.timers ?? realTimers
    this.#onReport = o.onReport ?? null
    this.#logger = o.logger ?? null
    this.#startMs = this.#clock.nowMs()
  }

  /** Counters for a revision the registry knows. One per revision; `unregister` when it goes. */
  register (namespace: string, name: string): RevisionConcurrency {
    const rc = new RevisionConcurrency(this, namespace, name, this.podName)
    this.#registered.add(rc)
    return rc
  }

  unregister (rc: RevisionConcurrency): void {
    rc.isRegistered = false
    this.#registered.delete(rc)
    this.#tracked.delete(rc)
  }

  get trackedCount (): number { return this.#tracked.size }

  /** From the next period on, each reported revision's concurrency also goes to `recorder` (null: none). */
  useRecorder (recorder: ConcurrencyRecorder | null): void { this.#recorder = recorder }

  /** Creates the stats entry of `rc` and sends the cold-start poke. Called by RevisionConcurrency.reqIn. */
  track (rc: RevisionConcurrency, nowMs: number): RequestStats {
    const stats = new RequestStats(nowMs)
    rc.stats = stats
    rc.firstRequest = 1
    if (rc.isRegistered) this.#tracked.add(rc)
    if (this.#sink !== null) {
      this.pokesSent++
      this.#send([{
        namespace: rc.namespace,
        name: rc.name,
        stat: {
          podName: this.podName,
          averageConcurrentRequests: 1,
          averageProxiedConcurrentRequests: 0,
          requestCount: 1,
          proxiedRequestCount: 0,
          processUptime: 0,
          timestamp: 0,
        },
      }])
    }
    return stats
  }

  start (): void {
    if (this.#timer !== null) return
    this.#timer = this.#timers.setInterval(() => { this.report() }, this.periodMs)
  }

  stop (): void {
    if (this.#timer === null) return
    this.#timer.cancel()
    this.#timer = null
  }

  /** Closes the period now: one batch to the sink for the tracked revisions, metrics for all. */
  report (): readonly WireStatMessage[] {
    const nowMs = this.#clock.nowMs()
    const periodSeconds = this.periodMs / 1000
    const uptime = (nowMs - this.#startMs) / 1000
    const w = this.#window
    const batch: WireStatMessage[] = []
    for (const rc of this.#registered) {
      const stats = rc.stats
      if (stats === null) {
        rc.latest = { ...emptyStat(this.podName), processUptime: uptime }
        continue
      }
      stats.report(nowMs, w)
      rc.latest = {
        podName: this.podName,
        averageConcurrentRequests: w.averageConcurrency,
        averageProxiedConcurrentRequests: 0,
        requestCount: w.requestCount / periodSeconds,
        proxiedRequestCount: 0,
        processUptime: uptime,
        timestamp: 0,
      }
      const firstAdj = rc.firstRequest
      rc.firstRequest = 0
      const adjusted = Math.max(w.averageConcurrency - firstAdj, 0)
      // Knative's run(): the metric gets each message's concurrency, the poke's 1 subtracted as
      // the autoscaler gets it, recorded whether or not a sink takes the batch.
      if (this.#recorder !== null) this.#recorder.recordConcurrency(rc.namespace, rc.name, adjusted)
      batch.push({
        namespace: rc.namespace,
        name: rc.name,
        stat: {
          podName: this.podName,
          averageConcurrentRequests: adjusted,
          averageProxiedConcurrentRequests: 0,
          requestCount: Math.max(w.requestCount - firstAdj, 0) / periodSeconds,
          proxiedRequestCount: 0,
          processUptime: 0,
          timestamp: 0,
        },
      })
      // Idle for the whole period: forget the entry (after reporting it), so the next request pokes.
      if (w.averageConcurrency === 0 && stats.inFlight === 0) {
        rc.stats = null
        this.#tracked.delete(rc)
      }
    }
    if (batch.length > 0 && this.#sink !== null) {
      this.batchesSent++
      this.#send(batch)
    }
    if (this.#onReport !== null) this.#onReport(nowMs)
    return batch
  }

  /** Each registered revision with its last closed period (metrics). */
  entries (): LabeledStat[] {
    const out: LabeledStat[] = []
    for (const rc of this.#registered) out.push({ labels: rc.labels, stat: rc.latest })
    return out
  }

  #send (messages: readonly WireStatMessage[]): void {
    try {
      this.#sink?.send(messages)
    } catch (err) {
      // The sink must not throw (a failed send is dropped, as Knative does); guard the request path anyway.
      this.#logger?.warn({ err }, 'stat sink failed')
    }
  }
}

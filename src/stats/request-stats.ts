// Knative's request statistics (knative.dev/networking pkg/http/stats/request.go), on the request path.
//
// The average concurrency of a window is the area under the in-flight curve divided by the time the window
// covered: every event first adds `inFlight * (now - lastChange)` to the area, then changes inFlight. So a
// request that lived 100 ms of a 1 s window contributes 0.1, and a request spanning two windows contributes
// to the concurrency of both but to the requestCount of the window it arrived in only.
//
// Knative keeps the area in concurrency-seconds. We accumulate concurrency-milliseconds and milliseconds
// instead: the average is their ratio, so the unit cancels and the hot path saves a division per event.
// As in Knative: concurrency and lastChange survive a report (only the window accumulators reset); events
// with a time before lastChange add nothing (no negative areas); an unmatched reqOut is not guarded against.
//
// Cost per event: one subtraction, a few multiply-adds, no allocation, no timer. Node is single-threaded,
// so the mutex Knative needs is gone.

/** What a period produced. Filled in place by `report` so a tick allocates nothing. */
export interface StatWindow {
  /** Time-weighted average of in-flight requests over the window. */
  averageConcurrency: number
  /** The same for proxied requests only (a subset of averageConcurrency). */
  averageProxiedConcurrency: number
  /** Requests that arrived in the window (a count, not a rate). */
  requestCount: number
  /** Proxied requests that arrived in the window (a subset of requestCount). */
  proxiedRequestCount: number
}

export function newStatWindow (): StatWindow {
  return { averageConcurrency: 0, averageProxiedConcurrency: 0, requestCount: 0, proxiedRequestCount: 0 }
}

/**
 * What the request path calls. Both `RequestStats` and `NOOP_STATS` implement it: a component holds one
 * field of this type and never branches on whether stats are enabled. The call site stays monomorphic
 * because a process uses only one of the two.
 */
export interface RequestStatsRecorder {
  reqIn (proxied: boolean, nowMs: number): void
  reqOut (proxied: boolean, nowMs: number): void
  report (nowMs: number, out: StatWindow): void
  readonly inFlight: number
  readonly proxiedInFlight: number
}

export class RequestStats implements RequestStatsRecorder {
  // State: survives reports.
  #inFlight = 0
  #proxiedInFlight = 0
  #lastChangeMs: number
  // Window accumulators: reset by report().
  #requestCount = 0
  #proxiedCount = 0
  #areaMs = 0
  #proxiedAreaMs = 0
  #elapsedMs = 0

  constructor (nowMs: number) {
    this.#lastChangeMs = nowMs
  }

  get inFlight (): number { return this.#inFlight }
  get proxiedInFlight (): number { return this.#proxiedInFlight }

  /** A request arrived (Knative `ReqIn`, or `ProxiedIn` when proxied). */
  reqIn (proxied: boolean, nowMs: number): void {
    this.#advance(nowMs)
    this.#inFlight++
    this.#requestCount++
    if (proxied) {
      this.#proxiedInFlight++
      this.#proxiedCount++
    }
  }

  /** A request finished (Knative `ReqOut`, or `ProxiedOut`); `proxied` must match its reqIn. */
  reqOut (proxied: boolean, nowMs: number): void {
    this.#advance(nowMs)
    this.#inFlight--
    if (proxied) this.#proxiedInFlight--
  }

  /** Closes the window at `nowMs`: writes its numbers into `out`, then starts a new window. */
  report (nowMs: number, out: StatWindow): void {
    this.#advance(nowMs)
    out.requestCount = this.#requestCount
    out.proxiedRequestCount = this.#proxiedCount
    if (this.#elapsedMs > 0) {
      out.averageConcurrency = this.#areaMs / this.#elapsedMs
      out.averageProxiedConcurrency = this.#proxiedAreaMs / this.#elapsedMs
    } else {
      out.averageConcurrency = 0
      out.averageProxiedConcurrency = 0
    }
    this.#requestCount = 0
    this.#proxiedCount = 0
    this.#areaMs = 0
    this.#proxiedAreaMs = 0
    this.#elapsedMs = 0
  }

  #advance (nowMs: number): void {
    const deltaMs = nowMs - this.#lastChangeMs
    if (deltaMs > 0) {
      this.#elapsedMs += deltaMs
      this.#areaMs += this.#inFlight * deltaMs
      this.#proxiedAreaMs += this.#proxiedInFlight * deltaMs
      this.#lastChangeMs = nowMs
    }
  }
}

function noop (): void {}

function reportNothing (_nowMs: number, out: StatWindow): void {
  out.averageConcurrency = 0
  out.averageProxiedConcurrency = 0
  out.requestCount = 0
  out.proxiedRequestCount = 0
}

/**
 * Stats switched off (`--no-stats`, `StatsReporter({ enabled: false })`): same methods, no work, reports
 * zeros. It exists so the benchmark can measure what stats cost; Knative's autoscaler needs real stats, so
 * a production sidecar keeps them on.
 */
export const NOOP_STATS: RequestStatsRecorder = Object.freeze({
  reqIn: noop,
  reqOut: noop,
  report: reportNothing,
  inFlight: 0,
  proxiedInFlight: 0,
})

import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import { loadMallocTrim, type MallocTrim } from './malloc-trim.ts'
import { reduceMemory, type ReduceMemoryResult } from './reduce-memory.ts'

// Gives an idle proxy its memory back (issue 13: after a burst the heap V8 grew stays committed for as
// long as the process is idle, since an idle Node process runs no memory-reducing GC of its own). Once no
// request has been in flight or finished for `idleMs`, and at least `minRequests` requests finished since
// the last time, it runs a memory-reducing GC (reduce-memory.ts) once; the next burst arms it again.
//
// Off the request path: it reads two counters the proxy keeps anyway (finished requests, requests in
// flight) on a coarse unref'd tick, so a request costs nothing more. It never collects while requests
// flow: traffic seen at a tick restarts the idle period. A request arriving during the collection waits
// for it (tens of ms, logged as gcMs). `minRequests` keeps a proxy that only sees the odd request (or
// kubelet probes, which are not counted) from collecting after each one. The price is paid by the next
// burst, which starts with the small young generation V8 shrank to (--idle-reclaim-seconds says why the
// default wait is a minute).
//
// With `startupQuietMs`, also once after start: the first time the proxy has been quiet that long (no
// request finished, none in flight), whatever the request count. Start-up leaves garbage no request
// makes (module sources and the compilers' leftovers, parsed config, glibc's free chunks); a
// memory-reducing GC and malloc_trim once the proxy is listening and quiet give back ~1.5 MB of an idle
// sidecar's RSS (issue 12, loadtest/results/memory-findings-2026-12-06b.md). Traffic at the check
// moves it on by another startupQuietMs, at most STARTUP_ATTEMPTS times: a proxy busy from its first
// second is left to the collection after its first burst.

export const DEFAULT_MIN_REQUESTS = 1_000
/**
 * The modes' start-up quiet time: after the start-up probe and the requests a cold start brings, long
 * before a pod sits idle; a request arriving during the collection waits for it (~20 ms, logged as gcMs).
 */
export const STARTUP_QUIET_MS = 500
/** Looks for a quiet moment after start before the start-up collection is given up (30 s at the sidecar's 500 ms). */
export const STARTUP_ATTEMPTS = 60

export interface ProxyActivity {
  /** Requests finished since start: monotonic (ProxyMetrics.latency.count). */
  finished (): number
  /** Requests queued or in flight now, upgraded connections included. */
  inFlight (): number
}

export interface IdleReclaimerOptions {
  activity: ProxyActivity
  /** Quiet time before a collection, ms. */
  idleMs: number
  /** Tick of the check, ms (default idleMs / 2, at most 5 s): a collection comes idleMs after the last tick that saw traffic. */
  tickMs?: number
  /** Requests that must have finished since the last collection (default DEFAULT_MIN_REQUESTS). */
  minRequests?: number
  /** Quiet time after start before the one start-up collection, ms (default 0: none). */
  startupQuietMs?: number
  clock: Clock
  timers?: Timers
  logger: Logger
  /** The collection (default reduceMemory, with malloc_trim when `mallocTrimAddon` is set); tests count calls. */
  reclaim?: () => ReduceMemoryResult
  /** Path of the malloc-trim addon ('' or absent = GC only); loaded at the first collection. */
  mallocTrimAddon?: string
  /** Resident set size, bytes, for the log line (default process.memoryUsage.rss). */
  rssBytes?: () => number
}

export class IdleReclaimer {
  readonly #o: IdleReclaimerOptions
  readonly #timers: Timers
  readonly #reclaim: () => ReduceMemoryResult
  readonly #rss: () => number
  readonly #minRequests: number
  #tick: TimerHandle | null = null
  #startup: TimerHandle | null = null
  /** Finished count at the last start-up check, and the checks left. */
  #startupFinished = 0
  #startupAttempts = 0
  /** Finished count at the last tick, and when traffic was last seen (monotonic ms). */
  #lastFinished = 0
  #lastActiveMs = 0
  /** Finished count at the last collection (or at start). */
  #reclaimedAt = 0
  #reclaims = 0

  constructor (options: IdleReclaimerOptions) {
    this.#o = options
    this.#timers = options.timers ?? realTimers
    this.#reclaim = options.reclaim ?? (() => reduceMemory(this.#mallocTrim()))
    this.#rss = options.rssBytes ?? (() => process.memoryUsage.rss())
    this.#minRequests = options.minRequests ?? DEFAULT_MIN_REQUESTS
  }

  #trim: MallocTrim | null | undefined = undefined

  /** The addon's function, loaded once; null without one, or when it does not load (logged once). */
  #mallocTrim (): MallocTrim | null {
    if (this.#trim !== undefined) return this.#trim
    const path = this.#o.mallocTrimAddon ?? ''
    this.#trim = null
    if (path === '') return null
    try {
      this.#trim = loadMallocTrim(path)
    } catch (err) {
      this.#o.logger.warn({ err, path }, 'idle: malloc-trim addon does not load; GC only')
    }
    return this.#trim
  }

  /** Collections run so far. */
  get reclaims (): number { return this.#reclaims }

  start (): void {
    if (this.#tick !== null) return
    const a = this.#o.activity
    this.#lastFinished = a.finished()
    this.#reclaimedAt = this.#lastFinished
    this.#lastActiveMs = this.#o.clock.nowMs()
    this.#tick = this.#timers.setInterval(() => { this.check() }, this.#o.tickMs ?? Math.max(1, Math.min(5_000, Math.floor(this.#o.idleMs / 2))))
    const quietMs = this.#o.startupQuietMs ?? 0
    if (quietMs > 0) {
      this.#startupFinished = this.#lastFinished
      this.#startupAttempts = STARTUP_ATTEMPTS
      this.#startup = this.#timers.setTimeout(() => { this.#checkStartup(quietMs) }, quietMs)
    }
  }

  stop (): void {
    this.#tick?.cancel()
    this.#tick = null
    this.#startup?.cancel()
    this.#startup = null
  }

  /** The start-up collection: now if nothing happened since the last look, else look again later. */
  #checkStartup (quietMs: number): void {
    this.#startup = null
    const a = this.#o.activity
    const finished = a.finished()
    if (this.#reclaims > 0) return // a burst was collected already
    if (finished !== this.#startupFinished || a.inFlight() > 0) {
      this.#startupFinished = finished
      if (--this.#startupAttempts > 0) this.#startup = this.#timers.setTimeout(() => { this.#checkStartup(quietMs) }, quietMs)
      return
    }
    this.#collect(finished, 'start')
  }

  /** One tick: notes traffic, or collects once when the proxy has been idle long enough after enough requests. */
  check (): void {
    const a = this.#o.activity
    const now = this.#o.clock.nowMs()
    const finished = a.finished()
    if (finished !== this.#lastFinished || a.inFlight() > 0) {
      this.#lastFinished = finished
      this.#lastActiveMs = now
      return
    }
    if (now - this.#lastActiveMs < this.#o.idleMs || finished - this.#reclaimedAt < this.#minRequests) return
    this.#collect(finished, 'idle')
  }

  #collect (finished: number, reason: 'start' | 'idle'): void {
    this.#reclaimedAt = finished
    this.#reclaims++
    const before = this.#rss()
    let result: ReduceMemoryResult
    try {
      result = this.#reclaim()
    } catch (err) {
      // Not on this runtime (no gc extension): nothing to give back, and no point trying again.
      this.#o.logger.warn({ err }, 'idle: memory-reducing GC unavailable; idle reclaim off')
      this.stop()
      return
    }
    const after = this.#rss()
    this.#o.logger.info({ reason, requests: finished, gcMs: round1(result.gcMs), trimMs: result.trimMs === null ? null : round1(result.trimMs), rssBeforeMb: round1(before / 2 ** 20), rssAfterMb: round1(after / 2 ** 20) }, 'idle: memory reclaimed')
  }
}

function round1 (x: number): number {
  return Math.round(x * 10) / 10
}

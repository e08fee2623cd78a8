// All revisions' autoscaling (Knative's MultiScaler plus the parts of the KPA reconciler that
// apply a decision): one RevisionScaler per revision, a 2 s decider tick and a 1 s scrape tick
// shared by all of them, pushed stats routed by revision with the cold-start poke, and a status
// view for the status server. Timers and clock are injected, so tests drive it on a fake clock.

import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import type { Stat } from '../stats/stat.ts'
import { revisionKeyOf, type Actuator, type RevisionId } from './actuator.ts'
import type { AutoscalerConfig } from './autoscaler-config.ts'
import { makeDeciderSpec } from './decider-spec.ts'
import { TICK_INTERVAL_MS } from './kpa-decider.ts'
import { RevisionScaler, type ActivatorProbe, type RevisionStatus } from './revision-scaler.ts'
import type { Scraper } from './scraper.ts'
import type { StatConsumer } from './stat-server.ts'

/** Knative's scrapeTickInterval. */
export const SCRAPE_INTERVAL_MS = 1_000
/** History kept per revision: 10 minutes of 2 s ticks. */
export const HISTORY_SAMPLES = 300
/** Revisions one autoscaler manages at most (a bound on every per-revision map). */
export const MAX_REVISIONS = 10_000

/** A revision as the autoscaler sees it. */
export interface AutoscaledRevision extends RevisionId {
  /** 0 = unlimited. */
  readonly containerConcurrency: number
  /** `autoscaling.knative.dev/*` annotations. */
  readonly annotations?: Readonly<Record<string, string>>
}

export interface MultiScalerOptions {
  readonly config: AutoscalerConfig
  readonly actuator: Actuator
  /** Null: no scraping (stats come only from pushes). */
  readonly scraper: Scraper | null
  readonly clock?: Clock
  readonly timers?: Timers
  readonly logger: Logger
  /** Default: the activator always answers (it is in every request's path). */
  readonly activatorProbe?: ActivatorProbe
  /** Default true: local mode routes every request through the activator. */
  readonly activatorAlwaysInPath?: boolean
  readonly historySamples?: number
  readonly tickIntervalMs?: number
  readonly scrapeIntervalMs?: number
}

export interface MultiScalerCounters {
  stats: number
  pokes: number
  /** Stats for revisions this autoscaler does not manage (ignored, as Knative does). */
  unknownRevisionStats: number
}

const ALWAYS_READY: ActivatorProbe = async () => true

export class MultiScaler implements StatConsumer {
  readonly counters: MultiScalerCounters
  readonly #options: MultiScalerOptions
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #logger: Logger
  readonly #scalers: Map<string, RevisionScaler>
  #config: AutoscalerConfig
  #tick: TimerHandle | null
  #scrapeTick: TimerHandle | null
  readonly #dirty: Set<string>
  #flushScheduled: boolean

  constructor (options: MultiScalerOptions) {
    this.counters = { stats: 0, pokes: 0, unknownRevisionStats: 0 }
    this.#options = options
    this.#clock = options.clock ?? realClock
    this.#timers = options.timers ?? realTimers
    this.#logger = options.logger
    this.#scalers = new Map()
    this.#config = options.config
    this.#tick = null
    this.#scrapeTick = null
    this.#dirty = new Set()
    this.#flushScheduled = false
    // Pod changes re-run the scale rules (Knative reconciles on endpoint changes), batched per turn.
    options.actuator.watch((key) => { this.#markDirty(key) })
  }

  get config (): AutoscalerConfig { return this.#config }

  /** Starts the decider and scrape ticks. */
  start (): void {
    if (this.#tick !== null) return
    this.#tick = this.#timers.setInterval(() => { this.#tickAll() }, this.#options.tickIntervalMs ?? TICK_INTERVAL_MS)
    if (this.#options.scraper !== null) {
      this.#scrapeTick = this.#timers.setInterval(() => { this.#scrapeAll() }, this.#options.scrapeIntervalMs ?? SCRAPE_INTERVAL_MS)
    }
  }

  /**
   * Adds or updates a revision. Returns the problems (one line each) when its containerConcurrency
   * or annotations are invalid; the revision is then not changed.
   */
  upsert (revision: AutoscaledRevision): readonly string[] {
    const made = makeDeciderSpec(this.#config, { containerConcurrency: revision.containerConcurrency, annotations: revision.annotations })
    if (made.spec === null) return made.problems
    const key = revisionKeyOf(revision.namespace, revision.name)
    const existing = this.#scalers.get(key)
    if (existing !== undefined) {
      existing.update(made.spec, this.#config, revision.containerConcurrency)
      existing.reconcile()
      return []
    }
    if (this.#scalers.size >= MAX_REVISIONS) return [`autoscaler: at most ${MAX_REVISIONS} revisions`]
    const id: RevisionId = { namespace: revision.namespace, name: revision.name }
    const scaler = new RevisionScaler({
      revision: id,
      containerConcurrency: revision.containerConcurrency,
      spec: made.spec,
      config: this.#config,
      actuator: this.#options.actuator,
      clock: this.#clock,
      timers: this.#timers,
      logger: this.#logger.child({ revision: key }),
      activatorProbe: this.#options.activatorProbe ?? ALWAYS_READY,
      activatorAlwaysInPath: this.#options.activatorAlwaysInPath ?? true,
      historySize: this.#options.historySamples ?? HISTORY_SAMPLES,
    })
    this.#scalers.set(key, scaler)
    // The revision starts at its initial scale, as Knative creates the Deployment with it.
    this.#options.actuator.setScale(id, made.spec.initialScale)
    scaler.reconcile()
    this.#logger.info({ revision: key, target: made.spec.targetValue, initialScale: made.spec.initialScale, minScale: made.spec.minScale, maxScale: made.spec.maxScale }, 'revision added')
    return []
  }

  /** Forgets a revision and scales it to 0. */
  remove (namespace: string, name: string): void {
    const key = revisionKeyOf(namespace, name)
    const scaler = this.#scalers.get(key)
    if (scaler === undefined) return
    scaler.close()
    this.#scalers.delete(key)
    this.#options.actuator.setScale({ namespace, name }, 0)
  }

  /** A pushed stat (StatConsumer): record it; a poke at scale 0 runs the decider at once. */
  onStat (namespace: string, name: string, stat: Stat): void {
    const scaler = this.#scalers.get(revisionKeyOf(namespace, name))
    if (scaler === undefined) { this.counters.unknownRevisionStats++; return }
    this.counters.stats++
    if (scaler.record(stat)) {
      this.counters.pokes++
      scaler.tick()
    }
  }

  /** Runs every revision's decider now (tests, and the 2 s tick). */
  tickAll (): void { this.#tickAll() }

  /** Scrapes every revision once (tests, and the 1 s tick); resolves when all are recorded. */
  async scrapeAll (): Promise<void> {
    const scraper = this.#options.scraper
    if (scraper === null) return
    const run = scraper.scrape.bind(scraper)
    await Promise.all(Array.from(this.#scalers.values(), (s) => s.scrape(run).catch((err: unknown) => {
      this.#logger.error({ err, revision: revisionKeyOf(s.revision.namespace, s.revision.name) }, 'scrape crashed')
    })))
  }

  status (historyLimit?: number): RevisionStatus[] {
    return Array.from(this.#scalers.values(), (s) => s.status(historyLimit))
  }

  revisionStatus (namespace: string, name: string, historyLimit?: number): RevisionStatus | null {
    return this.#scalers.get(revisionKeyOf(namespace, name))?.status(historyLimit) ?? null
  }

  /** Stops ticking; revisions keep their pods (the actuator's close() stops those). */
  close (): void {
    this.#tick?.cancel()
    this.#scrapeTick?.cancel()
    this.#tick = null
    this.#scrapeTick = null
    for (const s of this.#scalers.values()) s.close()
  }

  #tickAll (): void {
    for (const s of this.#scalers.values()) {
      try {
        s.tick()
      } catch (err) {
        this.#logger.error({ err, revision: revisionKeyOf(s.revision.namespace, s.revision.name) }, 'tick failed')
      }
    }
  }

  #scrapeAll (): void {
    this.scrapeAll().catch((err: unknown) => { this.#logger.error({ err }, 'scrape round failed') })
  }

  #markDirty (key: string): void {
    if (!this.#scalers.has(key)) return
    this.#dirty.add(key)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    queueMicrotask(() => {
      this.#flushScheduled = false
      const keys = Array.from(this.#dirty)
      this.#dirty.clear()
      for (const k of keys) {
        try {
          this.#scalers.get(k)?.reconcile()
        } catch (err) {
          this.#logger.error({ err, revision: k }, 'reconcile failed')
        }
      }
    })
  }
}

// The reference autoscaler as one object: stat server (activator pushes) + scraper + multiscaler +
// actuator + status server. `sluice autoscaler` and `sluice up` both build one; the CLI only wires
// options into it.

import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type Timers } from '../shared/timers.ts'
import type { Actuator, RevisionId } from './actuator.ts'
import type { ColdStartBreakdown } from './cold-start-breakdown.ts'
import type { AutoscalerConfig } from './autoscaler-config.ts'
import { MultiScaler, type AutoscaledRevision } from './multiscaler.ts'
import type { ActivatorProbe } from './revision-scaler.ts'
import { HttpStatFetcher, Scraper } from './scraper.ts'
import { StatServer } from './stat-server.ts'
import { STATUS_DOCUMENT_VERSION, StatusServer, type PodStatusView, type StatusDocument } from './status-server.ts'

export interface AutoscalerServiceOptions {
  readonly config: AutoscalerConfig
  readonly actuator: Actuator
  readonly logger: Logger
  /** Address of the stat server (and of the status server unless statusHost is set). */
  readonly host?: string
  readonly statusHost?: string
  /** Stat server port (0 = any free port). */
  readonly statsPort: number
  /** Status server port (0 = any free port); null = no status server. */
  readonly statusPort: number | null
  /** Scrape sidecars every second (default true). */
  readonly scrape?: boolean
  readonly activatorProbe?: ActivatorProbe
  readonly activatorAlwaysInPath?: boolean
  /** Per-pod detail for the status page (the local actuator has it). */
  readonly podDetails?: (revision: RevisionId) => readonly PodStatusView[]
  /** Activator queue depth, when known. */
  readonly queueDepth?: (namespace: string, name: string) => number | null
  /** The last scale from zero, phase by phase (`sluice up`: local pods + the activator's record). */
  readonly coldStart?: (revision: RevisionId) => ColdStartBreakdown | null
  /** Shown on the status page. */
  readonly trafficUrl?: string | null
  readonly clock?: Clock
  readonly timers?: Timers
}

export interface AutoscalerPorts {
  readonly stats: number
  readonly status: number | null
}

export class AutoscalerService {
  readonly multiscaler: MultiScaler
  readonly statServer: StatServer
  readonly statusServer: StatusServer | null
  readonly #o: AutoscalerServiceOptions
  readonly #fetcher: HttpStatFetcher | null
  readonly #clock: Clock

  constructor (options: AutoscalerServiceOptions) {
    this.#o = options
    this.#clock = options.clock ?? realClock
    const logger = options.logger
    this.#fetcher = (options.scrape ?? true) ? new HttpStatFetcher() : null
    this.multiscaler = new MultiScaler({
      config: options.config,
      actuator: options.actuator,
      scraper: this.#fetcher === null ? null : new Scraper({ fetcher: this.#fetcher, clock: this.#clock, logger: logger.child({ component: 'scraper' }) }),
      clock: this.#clock,
      timers: options.timers ?? realTimers,
      logger: logger.child({ component: 'multiscaler' }),
      activatorProbe: options.activatorProbe,
      activatorAlwaysInPath: options.activatorAlwaysInPath,
    })
    this.statServer = new StatServer({
      port: options.statsPort,
      host: options.host,
      consumer: this.multiscaler,
      logger: logger.child({ component: 'stat-server' }),
      clock: this.#clock,
    })
    this.statusServer = options.statusPort === null
      ? null
      : new StatusServer({ port: options.statusPort, host: options.statusHost ?? options.host, snapshot: (n) => this.status(n), logger: logger.child({ component: 'status' }) })
  }

  /** Adds or updates a revision; returns its problems (empty when fine). */
  upsert (revision: AutoscaledRevision): readonly string[] {
    return this.multiscaler.upsert(revision)
  }

  /** Listens (stat server first, so activators can connect) and starts ticking. */
  async start (): Promise<AutoscalerPorts> {
    const stats = await this.statServer.listen()
    const status = this.statusServer === null ? null : await this.statusServer.listen()
    this.multiscaler.start()
    return { stats, status }
  }

  status (historyLimit = Number.POSITIVE_INFINITY): StatusDocument {
    const s = this.statServer
    return {
      version: STATUS_DOCUMENT_VERSION,
      generatedAtMs: this.#clock.wallMs(),
      trafficUrl: this.#o.trafficUrl ?? null,
      statServer: { ...s.counters, port: s.port, clients: s.clients },
      revisions: this.multiscaler.status(historyLimit).map((r) => ({
        ...r,
        activatorQueueDepth: this.#o.queueDepth?.(r.namespace, r.name) ?? null,
        pods: this.#o.podDetails?.(r) ?? [],
        coldStart: this.#o.coldStart?.(r) ?? null,
      })),
    }
  }

  /** Stops ticking and closes the servers (the actuator is closed by its owner). */
  async close (): Promise<void> {
    this.multiscaler.close()
    await Promise.all([this.statServer.close(), this.statusServer?.close()])
    await this.#fetcher?.close()
  }
}

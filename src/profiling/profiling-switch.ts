import type { ProfilingListen } from '../config/profiling-config.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Timers } from '../shared/timers.ts'
import type { ProfilingServer } from './profiling-server.ts'

// Knative's profiling switch: on, the profiling server listens on PROFILING_PORT; off, nothing
// listens (Knative's activator keeps its port open and answers 404 while off; here a closed port,
// so a pod that never enables profiling has no extra port and does not load the server's code).
// The queue-proxy sets it once at start; the activator again whenever config-observability's
// `runtime-profiling` changes (pprof.UpdateFromConfigMap). Switching off closes the port and ends a
// profile being taken.

export interface ProfilingSwitchOptions extends ProfilingListen {
  mode: string
  logger: Logger
  timers?: Timers
  clock?: Clock
}

export class ProfilingSwitch {
  readonly #o: ProfilingSwitchOptions
  #server: ProfilingServer | null = null
  #enabled = false
  /** Switches apply in order: each waits for the previous one's listen or close. */
  #chain: Promise<void> = Promise.resolve()
  #port: number | null = null

  constructor (options: ProfilingSwitchOptions) {
    this.#o = options
  }

  get enabled (): boolean { return this.#enabled }
  /** The port listened on while enabled, else null. */
  get port (): number | null { return this.#port }
  /** The running server (tests: which profile is being taken). */
  get server (): ProfilingServer | null { return this.#server }

  /**
   * Turns profiling on (loads the server and listens) or off (closes it). Resolves when applied;
   * rejects when the port cannot be listened on (the switch stays off).
   */
  set (enabled: boolean): Promise<void> {
    const next = this.#chain.then(async () => { await this.#apply(enabled) })
    this.#chain = next.catch(() => {})
    return next
  }

  async #apply (enabled: boolean): Promise<void> {
    if (enabled === this.#enabled) return
    const o = this.#o
    if (!enabled) {
      this.#enabled = false
      this.#server?.close()
      this.#server = null
      this.#port = null
      o.logger.info('profiling disabled')
      return
    }
    const { ProfilingServer } = await import('./profiling-server.ts')
    const server = new ProfilingServer({ host: o.host, port: o.port, mode: o.mode, logger: o.logger, timers: o.timers, clock: o.clock })
    const port = await server.listen()
    this.#server = server
    this.#port = port
    this.#enabled = true
    o.logger.info({ host: o.host, port }, 'profiling enabled')
  }

  /** Closes the server if it is on (shutdown). */
  close (): void {
    this.#enabled = false
    this.#server?.close()
    this.#server = null
    this.#port = null
  }
}

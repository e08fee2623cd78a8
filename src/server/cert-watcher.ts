import { readFile } from 'node:fs/promises'
import { CertificateLoadError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// Knative's queue-proxy CertWatcher (pkg/queue/certificate/watcher.go): the TLS port's certificate
// and key are re-read on a fixed interval (a minute) and swapped in when either file changed, so
// a rotated Secret reaches new connections without a restart; open connections keep the pair
// they were made with. A pair that does not load (half-written files, a key that does not match)
// is logged and the old pair stays; it is retried on the next tick, as Knative does. Files are
// compared by content (Knative: sha256 of each), so a touch without a change does nothing.

/** The certificate and key files Knative mounts (knative.dev/networking certificates.CertName / PrivateKeyName). */
export const CERT_FILE = 'tls.crt'
export const KEY_FILE = 'tls.key'
/** Knative's reload interval. */
export const CERT_RELOAD_MS = 60_000

export interface CertWatcherOptions {
  certPath: string
  keyPath: string
  intervalMs: number
  /** Installs a pair; throws if the pair is unusable (then the old one stays). */
  install (cert: Buffer, key: Buffer): void
  logger: Logger
  timers?: Timers
}

export class CertWatcher {
  readonly #o: CertWatcherOptions
  readonly #timers: Timers
  #cert: Buffer | null = null
  #key: Buffer | null = null
  #tick: TimerHandle | null = null
  #checking = false
  #stopped = false

  constructor (options: CertWatcherOptions) {
    this.#o = options
    this.#timers = options.timers ?? realTimers
  }

  /** Loads the first pair (throws CertificateLoadError if it does not load) and starts the ticks. */
  async start (): Promise<void> {
    await this.#load()
    if (this.#stopped || this.#tick !== null) return
    this.#tick = this.#timers.setInterval(() => { void this.check() }, this.#o.intervalMs)
  }

  /**
   * Re-reads both files and installs them if either changed. Resolves true when a new pair went
   * in; never rejects (a failure is logged). A check while one runs is skipped.
   */
  async check (): Promise<boolean> {
    if (this.#checking || this.#stopped) return false
    try {
      return await this.#load()
    } catch (err) {
      this.#o.logger.error({ err }, 'cannot reload the TLS certificate; keeping the current one')
      return false
    }
  }

  stop (): void {
    this.#stopped = true
    if (this.#tick !== null) { this.#tick.cancel(); this.#tick = null }
  }

  async #load (): Promise<boolean> {
    const o = this.#o
    this.#checking = true
    try {
      let cert: Buffer
      let key: Buffer
      try {
        cert = await readFile(o.certPath)
        key = await readFile(o.keyPath)
      } catch (cause) {
        throw new CertificateLoadError(`cannot read the TLS certificate or key: ${errorText(cause)}`, { cause })
      }
      if (this.#cert !== null && this.#key !== null && cert.equals(this.#cert) && key.equals(this.#key)) return false
      if (this.#stopped) return false
      try {
        o.install(cert, key)
      } catch (cause) {
        throw new CertificateLoadError(`cannot use the TLS certificate ${o.certPath} with key ${o.keyPath}: ${errorText(cause)}`, { cause })
      }
      const first = this.#cert === null
      this.#cert = cert
      this.#key = key
      if (!first) o.logger.info({ certPath: o.certPath, keyPath: o.keyPath }, 'TLS certificate and/or key changed on disk and were reloaded')
      return true
    } finally {
      this.#checking = false
    }
  }
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

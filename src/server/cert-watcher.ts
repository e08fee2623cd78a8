import { CertificateLoadError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// Knative's queue-proxy CertWatcher (pkg/queue/certificate/watcher.go): the TLS port's certificate
// and key are re-read on a fixed interval (a minute) and swapped in when either file changed, so
// a rotated Secret reaches new connections without a restart; open connections keep the pair
// they were made with. A pair that does not load (half-written files, a key that does not match)
// is logged and the old pair stays; it is retried on the next tick, as Knative does. Files are
// compared by content (Knative: sha256 of each), so a touch without a change does nothing.
//
// Used by both modes: the sidecar's TLS port (queue-proxy), and the activator's TLS port plus the
// CA it trusts when dialing pods (Knative's activator CertCache watches the routing-serving-certs
// Secret: tls.crt/tls.key for its server, ca.crt for the trust pool; here the Secret is mounted).

/** The certificate and key files Knative mounts (knative.dev/networking certificates.CertName / PrivateKeyName). */
export const CERT_FILE = 'tls.crt'
export const KEY_FILE = 'tls.key'
/** The CA bundle beside them (knative.dev/networking certificates.CaCertName), optional. */
export const CA_FILE = 'ca.crt'
/** Knative's reload interval. */
export const CERT_RELOAD_MS = 60_000

export interface CertWatcherOptions {
  certPath: string
  keyPath: string
  /** A CA bundle read with the pair (absent file = null); null or unset = not read. */
  caPath?: string | null
  intervalMs: number
  /** Installs a pair (and the CA, when watched); throws if unusable (then the old ones stay). */
  install (cert: Buffer, key: Buffer, ca: Buffer | null): void
  logger: Logger
  timers?: Timers
}

export class CertWatcher {
  readonly #o: CertWatcherOptions
  readonly #timers: Timers
  readonly #caPath: string | null
  #cert: Buffer | null = null
  #key: Buffer | null = null
  #ca: Buffer | null = null
  #tick: TimerHandle | null = null
  #checking = false
  #stopped = false

  constructor (options: CertWatcherOptions) {
    this.#o = options
    this.#timers = options.timers ?? realTimers
    this.#caPath = options.caPath ?? null
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
      let ca: Buffer | null = null
      try {
        cert = await readFile(o.certPath)
        key = await readFile(o.keyPath)
        if (this.#caPath !== null) ca = await readOptional(this.#caPath)
      } catch (cause) {
        throw new CertificateLoadError(`cannot read the TLS certificate or key: ${errorText(cause)}`, { cause })
      }
      if (this.#cert !== null && this.#key !== null && cert.equals(this.#cert) && key.equals(this.#key) && sameOrNull(ca, this.#ca)) return false
      if (this.#stopped) return false
      try {
        o.install(cert, key, ca)
      } catch (cause) {
        throw new CertificateLoadError(`cannot use the TLS certificate ${o.certPath} with key ${o.keyPath}${this.#caPath !== null ? ` and CA ${this.#caPath}` : ''}: ${errorText(cause)}`, { cause })
      }
      const first = this.#cert === null
      this.#cert = cert
      this.#key = key
      this.#ca = ca
      if (!first) o.logger.info({ certPath: o.certPath, keyPath: o.keyPath, caPath: this.#caPath }, 'TLS certificate and/or key changed on disk and were reloaded')
      return true
    } finally {
      this.#checking = false
    }
  }
}

/** The file's bytes, or null when it does not exist (any other read error throws). */
async function readOptional (path: string): Promise<Buffer | null> {
  try {
    return await readFile(path)
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return null
    throw err
  }
}

function sameOrNull (a: Buffer | null, b: Buffer | null): boolean {
  return a === null ? b === null : b !== null && a.equals(b)
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * node:fs/promises' readFile, looked up when a certificate is read: a static import would load
 * fs/promises in every sidecar's start, and most have no certificate (issue 12).
 */
function readFile (path: string): Promise<Buffer> {
  return process.getBuiltinModule('node:fs/promises').readFile(path)
}

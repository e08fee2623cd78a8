import { createHash, timingSafeEqual } from 'node:crypto'
import { readTokenFile } from '../../config/token-file.ts'
import type { Logger } from '../../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../../shared/timers.ts'

// The admin API's bearer token (`--admin-token-file`), re-read on an interval so a rotated Secret
// applies without a restart. The kubelet swaps a mounted Secret's files atomically (a symlink flip)
// within about a minute of the update, and inotify does not see a flip reliably across the volume's
// ..data link, so a 10 s re-read is both simpler and dependable; a rotation takes effect within the
// kubelet's delay plus 10 s. A re-read that fails (file gone, empty) keeps the current token and is
// logged once per distinct failure: locking every client out because a Secret was briefly emptied
// would be worse than honouring the previous token a little longer.
//
// Comparison is constant-time over SHA-256 digests: equal-length inputs for timingSafeEqual whatever
// the presented length, so neither the token's bytes nor its length leak through timing.

export const ADMIN_TOKEN_RELOAD_MS = 10_000

/** What the admin API asks: may a request with this Authorization header value go on? */
export interface AdminAuth {
  verify (authorization: string | undefined): boolean
}

export interface AdminTokenFileOptions {
  readonly path: string
  /** The token read at start (config), so a bad file fails at boot, not on the first request. */
  readonly initial: string
  readonly logger: Logger
  readonly intervalMs?: number
  readonly timers?: Timers
  /** Reads the token (default readTokenFile); throws when the file cannot give one. */
  readonly read?: (path: string) => string
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i

export class AdminTokenFile implements AdminAuth {
  readonly #path: string
  readonly #logger: Logger
  readonly #intervalMs: number
  readonly #timers: Timers
  readonly #read: (path: string) => string
  #digest: Buffer
  #lastFailure: string | null = null
  #tick: TimerHandle | null = null

  constructor (o: AdminTokenFileOptions) {
    this.#path = o.path
    this.#logger = o.logger
    this.#intervalMs = o.intervalMs ?? ADMIN_TOKEN_RELOAD_MS
    this.#timers = o.timers ?? realTimers
    this.#read = o.read ?? readTokenFile
    this.#digest = digest(o.initial)
  }

  start (): void {
    if (this.#tick !== null) return
    this.#tick = this.#timers.setInterval(() => { this.check() }, this.#intervalMs)
  }

  stop (): void {
    if (this.#tick !== null) { this.#tick.cancel(); this.#tick = null }
  }

  /** Re-reads the file; true when the token changed. Never throws (failures are logged). */
  check (): boolean {
    let token: string
    try {
      token = this.#read(this.#path)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      if (message !== this.#lastFailure) {
        this.#lastFailure = message
        this.#logger.error({ err, path: this.#path }, 'cannot read the admin token file; keeping the current token')
      }
      return false
    }
    this.#lastFailure = null
    const next = digest(token)
    if (timingSafeEqual(next, this.#digest)) return false
    this.#digest = next
    // Never the token itself: log lines travel further than the Secret does.
    this.#logger.info({ path: this.#path }, 'admin token rotated')
    return true
  }

  verify (authorization: string | undefined): boolean {
    if (authorization === undefined) return false
    const match = BEARER.exec(authorization)
    if (match === null || match[1] === undefined) return false
    return timingSafeEqual(digest(match[1]), this.#digest)
  }
}

function digest (token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

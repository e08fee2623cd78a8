// Delays between reconnect attempts: exponential with jitter, like knative.dev/pkg's websocket
// connection (wait.Backoff{Duration: 100ms, Factor: 1.3, Jitter: 0.5}) but capped low so that a
// restarted autoscaler gets stats again within a second, and retried forever.

export interface BackoffOptions {
  /** First delay, ms. */
  readonly initialMs: number
  /** Growth per attempt. */
  readonly factor: number
  /** Up to this fraction of the delay is added at random (0.5: delay x [1, 1.5)). */
  readonly jitter: number
  /** Largest delay before jitter, ms. */
  readonly capMs: number
}

/** 100 ms x 1.3 per attempt, jitter 0.5, base capped at 400 ms (so at most 600 ms between attempts). */
export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 100, factor: 1.3, jitter: 0.5, capMs: 400 })

export class ReconnectBackoff {
  readonly #options: BackoffOptions
  readonly #random: () => number
  #baseMs: number

  constructor (options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random) {
    this.#options = options
    this.#random = random
    this.#baseMs = options.initialMs
  }

  /** The delay before the next attempt; each call grows the base. */
  next (): number {
    const base = this.#baseMs
    this.#baseMs = Math.min(this.#options.capMs, base * this.#options.factor)
    return base + this.#random() * this.#options.jitter * base
  }

  /** After a successful connection: the next failure starts from the first delay again. */
  reset (): void {
    this.#baseMs = this.#options.initialMs
  }
}

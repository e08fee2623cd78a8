// Injected time source. Durations come from a monotonic clock (monotonicMs(): process.hrtime(), as
// performance.now() is, without loading perf_hooks), never Date.now(), so wall-clock steps cannot
// stretch or shrink a window.
import { monotonicMs } from './monotonic.ts'

export interface Clock {
  /** Monotonic milliseconds (fractional). */
  nowMs(): number
  /** Wall-clock milliseconds since the epoch, for timestamps only. */
  wallMs(): number
}

export const realClock: Clock = {
  nowMs: monotonicMs,
  wallMs: () => Date.now(),
}

/** Manually driven clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  #nowMs: number
  #wallMs: number
  constructor (startMs = 0, wallStartMs = 1_700_000_000_000) {
    this.#nowMs = startMs
    this.#wallMs = wallStartMs
  }

  nowMs (): number { return this.#nowMs }
  wallMs (): number { return this.#wallMs }
  advance (ms: number): void {
    this.#nowMs += ms
    this.#wallMs += ms
  }
}

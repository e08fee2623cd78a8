// Injected time source. Durations come from a monotonic clock (performance.now()),
// never Date.now(), so wall-clock steps cannot stretch or shrink a window.
export interface Clock {
  /** Monotonic milliseconds (fractional). */
  nowMs(): number
  /** Wall-clock milliseconds since the epoch, for timestamps only. */
  wallMs(): number
}

export const realClock: Clock = {
  nowMs: () => performance.now(),
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

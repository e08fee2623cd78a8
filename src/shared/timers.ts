// Injected timer functions, so control-plane loops (ticks, reconnect backoff, liveness checks)
// run on a fake clock in tests. Hot paths keep their own shared ticks; this is for components
// that set a handful of timers per second at most.

import type { ManualClock } from './clock.ts'

export interface TimerHandle {
  /** Cancels the timer; a no-op once it fired or was cancelled. */
  cancel (): void
}

export interface Timers {
  /** Runs `fn` once after `ms`. Real timers are unref'd: they never keep the process alive. */
  setTimeout (fn: () => void, ms: number): TimerHandle
  /** Runs `fn` every `ms` until cancelled (unref'd too). */
  setInterval (fn: () => void, ms: number): TimerHandle
}

class NativeHandle implements TimerHandle {
  readonly #timer: NodeJS.Timeout
  readonly #interval: boolean
  constructor (timer: NodeJS.Timeout, interval: boolean) {
    this.#timer = timer
    this.#interval = interval
    timer.unref()
  }

  cancel (): void {
    if (this.#interval) clearInterval(this.#timer)
    else clearTimeout(this.#timer)
  }
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => new NativeHandle(setTimeout(fn, ms), false),
  setInterval: (fn, ms) => new NativeHandle(setInterval(fn, ms), true),
}

interface Pending {
  dueMs: number
  seq: number
  periodMs: number
  fn: () => void
  cancelled: boolean
}

/**
 * Timers driven by a ManualClock: `advance(ms)` moves the clock and fires what falls due, in time
 * order (ties in creation order), with the clock set to each timer's due time while it runs.
 */
export class ManualTimers implements Timers {
  readonly clock: ManualClock
  #pending: Pending[] = []
  #seq = 0

  constructor (clock: ManualClock) {
    this.clock = clock
  }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, 0)
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, ms))
  }

  /** Timers not yet fired or cancelled. */
  get size (): number {
    return this.#pending.filter((p) => !p.cancelled).length
  }

  /** Moves time forward by `ms`, firing due timers; awaits microtasks after each so promise chains settle. */
  async advance (ms: number): Promise<void> {
    const endMs = this.clock.nowMs() + ms
    for (;;) {
      this.#pending = this.#pending.filter((p) => !p.cancelled)
      let next: Pending | null = null
      for (const p of this.#pending) {
        if (p.dueMs <= endMs && (next === null || p.dueMs < next.dueMs || (p.dueMs === next.dueMs && p.seq < next.seq))) next = p
      }
      if (next === null) break
      if (next.dueMs > this.clock.nowMs()) this.clock.advance(next.dueMs - this.clock.nowMs())
      if (next.periodMs > 0) {
        next.dueMs += next.periodMs
        next.seq = this.#seq++
      } else next.cancelled = true
      next.fn()
      await flushMicrotasks()
    }
    if (endMs > this.clock.nowMs()) this.clock.advance(endMs - this.clock.nowMs())
    await flushMicrotasks()
  }

  #add (fn: () => void, ms: number, periodMs: number): TimerHandle {
    const p: Pending = { dueMs: this.clock.nowMs() + Math.max(0, ms), seq: this.#seq++, periodMs, fn, cancelled: false }
    this.#pending.push(p)
    return { cancel: () => { p.cancelled = true } }
  }
}

async function flushMicrotasks (): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

// One shared timer for every request's deadlines instead of a native timer per request:
// a tick walks the in-flight list and asks each member whether a deadline passed. The walk is
// O(in-flight) per tick, which at tens of ticks a second is far cheaper than arming and
// clearing up to three timers per request. Precision is one tick (TICK_MS), fine for
// timeouts that Knative expresses in whole seconds.

import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

export interface SweepNode {
  sweepPrev: SweepNode | null
  sweepNext: SweepNode | null
  isSwept: boolean
  /** Called on each tick; returns nothing, may call `remove` on itself. */
  checkDeadlines (nowMs: number): void
}


export const DEFAULT_TICK_MS = 50

export class DeadlineSweeper {
  #head: SweepNode | null = null
  #size = 0
  #handle: TimerHandle | null = null
  readonly #tickMs: number
  readonly #now: () => number
  readonly #timers: Timers
  readonly #onTick: () => void

  constructor (now: () => number, tickMs = DEFAULT_TICK_MS, timers: Timers = realTimers) {
    this.#now = now
    this.#tickMs = tickMs
    this.#timers = timers
    this.#onTick = () => { this.sweep() }
  }

  get size (): number { return this.#size }

  add (node: SweepNode): void {
    if (node.isSwept) return
    node.isSwept = true
    node.sweepPrev = null
    node.sweepNext = this.#head
    if (this.#head !== null) this.#head.sweepPrev = node
    this.#head = node
    // The interval only runs while something is in flight, so an idle proxy does no work.
    if (this.#size++ === 0 && this.#handle === null) this.#handle = this.#timers.setInterval(this.#onTick, this.#tickMs)
  }

  remove (node: SweepNode): void {
    if (!node.isSwept) return
    node.isSwept = false
    const prev = node.sweepPrev
    const next = node.sweepNext
    if (prev === null) this.#head = next
    else prev.sweepNext = next
    if (next !== null) next.sweepPrev = prev
    node.sweepPrev = null
    node.sweepNext = null
    if (--this.#size === 0 && this.#handle !== null) {
      this.#handle.cancel()
      this.#handle = null
    }
  }

  /** Checks every member once. Public so tests with a manual clock can drive it. */
  sweep (): void {
    const now = this.#now()
    let node = this.#head
    while (node !== null) {
      const next = node.sweepNext // read first: checkDeadlines may unlink `node`
      node.checkDeadlines(now)
      node = next
    }
  }

  close (): void {
    if (this.#handle !== null) this.#handle.cancel()
    this.#handle = null
  }
}

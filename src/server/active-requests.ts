/**
 * Counts requests a server has accepted and not finished (queued or in flight), so a drain can
 * wait until it reaches zero. The request path only increments and decrements a number; waiters
 * exist only during a shutdown.
 */
export class ActiveRequests {
  count = 0
  #idleWaiters: Array<() => void> = []

  inc (): void { this.count++ }

  dec (): void {
    if (--this.count === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Resolves once nothing is queued or in flight. */
  whenIdle (): Promise<void> {
    if (this.count === 0) return Promise.resolve()
    return new Promise((resolve) => { this.#idleWaiters.push(resolve) })
  }
}

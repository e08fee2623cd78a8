// Bounded waits used by the shutdown paths of the sidecar and the activator. Control plane only.

/** Resolves when `p` settles or after `ms` (no bound when ms is not a positive finite number). */
export function withTimeout (p: Promise<void>, ms: number): Promise<void> {
  if (!(ms > 0) || !Number.isFinite(ms)) return p
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    p.then(() => { clearTimeout(t); resolve() }, () => { clearTimeout(t); resolve() })
  })
}

/** Resolves once `done()` is true, polled every 250 ms (open websockets have no idle event). */
export function waitUntil (done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => { if (done()) { clearInterval(t); resolve() } }, 250)
    t.unref()
  })
}

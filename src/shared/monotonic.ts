// The monotonic clock as milliseconds (fractional), from process.hrtime(): what performance.now() reads,
// without the `performance` global, whose first use loads perf_hooks, os and the rest of Node's perf
// timeline (~0.6 MB RSS in a sidecar that never uses them; issue 12,
// loadtest/results/memory-findings-2026-12-06b.md). Same cost per call (~40 ns, both). The origin is
// arbitrary (not the process start): only differences mean anything, as with every Clock.nowMs().

const hrtime = process.hrtime

/** Monotonic milliseconds, fractional, from an arbitrary origin. */
export function monotonicMs (): number {
  const t = hrtime()
  return t[0] * 1e3 + t[1] / 1e6
}

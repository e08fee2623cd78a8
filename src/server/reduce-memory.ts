// A memory-reducing full GC, the one V8 runs under memory pressure (Heap::CollectAllAvailableGarbage:
// full collections until nothing more is freed, then the young generation shrunk back and the pooled
// pages unmapped). Without one, an idle Node process keeps the heap it grew under load: after the fault
// suite's aborts (issue 13) the sidecar's V8 heap held 75 MB committed for 7 MB live, and neither time
// nor an ordinary major GC (`gc()`) gave any of it back (RSS unchanged), while this flavour returned
// 42 MB of RSS in the sidecar and 62 MB in the activator (loadtest/faults/reclaim-methods.ts; figures in
// docs/reliability.md).
//
// Reached without `--expose-gc` on the command line: the flag is switched on just long enough for a new
// vm context to get V8's `gc` extension function, then off again, so no other context (and not the main
// one's global) ever sees a `gc`. The context is dropped after use (keeping it would cost ~1 MB).
//
// What stays after it is glibc's heap: pages of free chunks among live ones, which free() never returns
// and Node cannot trim; with the malloc-trim addon (malloc-trim.ts) they go back as well.

import type { MallocTrim } from './malloc-trim.ts'
import { monotonicMs } from '../shared/monotonic.ts'

export interface ReduceMemoryResult {
  /** How long the collection stopped the process, ms. */
  readonly gcMs: number
  /** How long malloc_trim took, ms; null without the addon. */
  readonly trimMs: number | null
}

type GcFunction = (options?: { type?: 'major' | 'minor', execution?: 'sync' | 'async', flavor?: 'regular' | 'last-resort' }) => unknown

/** Runs a memory-reducing full GC now, then `trim` when given (synchronous: the event loop waits). */
export function reduceMemory (trim: MallocTrim | null = null): ReduceMemoryResult {
  const gc = gcFunction()
  const t0 = monotonicMs()
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  const t1 = monotonicMs()
  if (trim === null) return { gcMs: t1 - t0, trimMs: null }
  trim()
  return { gcMs: t1 - t0, trimMs: monotonicMs() - t1 }
}

function gcFunction (): GcFunction {
  const own: unknown = (globalThis as { gc?: unknown }).gc
  if (typeof own === 'function') return own as GcFunction // started with --expose-gc
  const v8 = process.getBuiltinModule('node:v8')
  v8.setFlagsFromString('--expose-gc')
  try {
    const fn: unknown = process.getBuiltinModule('node:vm').runInNewContext('gc')
    if (typeof fn !== 'function') throw new Error('V8 did not expose gc in a new context')
    return fn as GcFunction
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
}

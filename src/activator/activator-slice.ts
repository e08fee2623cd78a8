// Which of a revision's ready endpoints this activator sends to, and how much of each one it may
// use, when several activator replicas front the same revision (Knative's assignSlice, throttler.go).
//
// Each replica knows its index among the N replicas (sorted by IP in Knative; `--activator-index`
// here). With N <= pods, the sorted pods are cut into N equal slices and the leftover pods go one
// each to the first replicas: every pod belongs to exactly one replica, which may use its whole
// containerConcurrency, so the replicas together never put more than CC on a pod.
//
// Two cases where Knative overloads a pod and Sluice does not:
// - N > pods: pods are shared round robin (replica i -> pod i mod P; one pod: all replicas). Knative
//   gives every sharer the whole CC, so a pod shared by k replicas can get k x CC. Here each sharer
//   gets floor(CC / k).
// - index unknown (N given, index not): Knative takes every pod at full CC. Here each replica takes
//   floor(CC / N) of every pod, the same total Knative's cluster-IP formula gives (CC x pods / N),
//   without letting the replicas pile onto one pod.
// Both are floored at 1 so a revision with pods is never stuck at zero capacity (Knative's
// minOneOrValue): with CC < sharers, a pod can then see up to `sharers` requests.

export interface ActivatorSlot {
  /** This replica's index in [0, count); -1 = not known (share every pod by count). */
  readonly index: number
  /** Activator replicas sharing the revision; >= 1. */
  readonly count: number
}

/** Positions in `sorted` (0..pods-1) this replica sends to. */
export function slicePositions (pods: number, slot: ActivatorSlot): number[] {
  const { index, count } = slot
  if (pods === 0) return []
  if (index < 0 || count <= 1 || pods === 1) return range(0, pods)
  if (count > pods) return [index % pods]
  const size = Math.floor(pods / count)
  const out = range(index * size, index * size + size)
  const remnants = pods % count
  if (index < remnants) out.push(pods - remnants + index)
  return out
}

/**
 * How many requests this replica may have in flight on the pod at `position` (of `pods`), for a
 * containerConcurrency > 0.
 */
export function slotCapacity (containerConcurrency: number, position: number, pods: number, slot: ActivatorSlot): number {
  const { index, count } = slot
  if (count <= 1) return containerConcurrency
  if (index < 0) return Math.max(1, Math.floor(containerConcurrency / count))
  if (count <= pods) return containerConcurrency // exclusive
  // Replicas j with j mod pods == position share the pod (a single pod: all of them).
  const sharers = Math.floor((count - 1 - position) / pods) + 1
  return Math.max(1, Math.floor(containerConcurrency / sharers))
}

function range (from: number, to: number): number[] {
  const out: number[] = []
  for (let i = from; i < to; i++) out.push(i)
  return out
}

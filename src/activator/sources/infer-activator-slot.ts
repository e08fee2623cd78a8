// This activator's place among the activators in front of a revision, from the addresses of the
// revision's public endpoints (Knative's handlePubEpsUpdate + inferIndex, activator/net/throttler.go):
// the replicas sort the same list the same way, so each takes a different index without talking to
// the others.

import type { ActivatorSlot } from '../activator-slice.ts'

/**
 * index = `selfIp`'s position in the sorted, de-duplicated `addresses`, count = their number; null
 * when `selfIp` is not among them (or is ''): this activator is not in the revision's path, and
 * Knative then keeps whatever slot it had. Plain string order, as Go's sets.List / sort.Strings
 * (IP strings are ASCII, so UTF-16 and byte order agree).
 */
export function inferActivatorSlot (addresses: Iterable<string>, selfIp: string): ActivatorSlot | null {
  if (selfIp === '') return null
  const sorted = [...new Set(addresses)].sort()
  const index = sorted.indexOf(selfIp)
  return index < 0 ? null : Object.freeze({ index, count: sorted.length })
}

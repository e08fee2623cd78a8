// The `Server-Timing` response header (opt-in, `--server-timing`): how long a request waited for admission
// and how long the user container took to its first byte, the breakdown Knative users asked for (knative
// PR 12987, abandoned). Set with the response headers, so the body is never buffered for it.
//
// Format (W3C Server Timing): `queue;dur=1.234, upstream;dur=5.6`, durations in ms rounded to µs.

export const SERVER_TIMING_HEADER = 'server-timing'

const QUEUE_PREFIX = 'queue;dur='
const UPSTREAM_PREFIX = 'upstream;dur='
const SEPARATOR = ', '

function formatDurationMs (ms: number): string {
  return String(Math.round(ms * 1000) / 1000)
}

/**
 * The header value. A negative or NaN duration means "not measured" (e.g. a request rejected before
 * reaching the upstream) and leaves that metric out; both missing -> ''.
 */
export function serverTimingValue (queueWaitMs: number, upstreamFirstByteMs: number): string {
  const hasQueue = queueWaitMs >= 0
  const hasUpstream = upstreamFirstByteMs >= 0
  if (hasQueue && hasUpstream) {
    return QUEUE_PREFIX + formatDurationMs(queueWaitMs) + SEPARATOR + UPSTREAM_PREFIX + formatDurationMs(upstreamFirstByteMs)
  }
  if (hasQueue) return QUEUE_PREFIX + formatDurationMs(queueWaitMs)
  if (hasUpstream) return UPSTREAM_PREFIX + formatDurationMs(upstreamFirstByteMs)
  return ''
}

// Where the last scale from zero went (`sluice up`'s status page and GET /status): the instants the
// activator saw (first request buffered, endpoint ready, first byte back) lined up with the ones the
// local actuator saw (pod spawned, app listening, sidecar ready). Two processes, so the instants are
// wall-clock (epoch ms): the system clock is the time base they share.
//
// Phases, in causal order, as ms after the request reached the activator:
//   spawn               the autoscaler heard of the request, decided 1 pod, the actuator spawned it
//                       (the app alone when the sidecar ran ahead as a spare: sidecarPrestarted)
//   appListening        the app first accepted a connection on its port
//   sidecarReady        a probe through the sidecar (K-Network-Probe: queue) first got 200
//   activatorProbeOk    the activator's own probe passed: the endpoint is in rotation
//   firstByte           the first buffered request's response started, at the activator
// Each phase is seen by its own poll (the app's port every 5 ms, our sidecar probe every 25 ms), so
// one may be seen after a later phase that proves it (the activator's probe passing proves the
// sidecar was ready): such a phase is moved back to the later one's instant, keeping the order true.

import { samplesOf } from '../stats/prometheus-samples.ts'
import { revisionKeyOf } from './actuator.ts'

/** Instants from the activator's metrics (sluice_activator_last_cold_start_timestamp_seconds), epoch ms. */
export interface ActivatorColdStart {
  readonly requestWallMs: number | null
  readonly endpointReadyWallMs: number | null
  readonly forwardedWallMs: number | null
  readonly firstByteWallMs: number | null
}

/** Instants from the local pod, epoch ms; null = not seen. */
export interface PodColdStart {
  readonly pod: string
  readonly spawnWallMs: number | null
  readonly appListeningWallMs: number | null
  readonly sidecarReadyWallMs: number | null
  /** The sidecar ran ahead as a spare: `spawn` is the app's alone. */
  readonly sidecarPrestarted: boolean
}

export const COLD_START_PHASES = ['spawn', 'appListening', 'sidecarReady', 'activatorProbeOk', 'firstByte'] as const
export type ColdStartPhaseName = typeof COLD_START_PHASES[number]

export interface ColdStartPhase {
  readonly name: ColdStartPhaseName
  /** ms after the origin; null = not (yet) seen. */
  readonly atMs: number | null
}

export interface ColdStartBreakdown {
  readonly pod: string
  /**
   * `request`: ms count from the request's arrival at the activator. `spawn`: the activator's record
   * is missing or belongs to another cold start (a scale from zero without a request, say), so ms
   * count from the spawn and the activator's phases are null.
   */
  readonly origin: 'request' | 'spawn'
  /** The origin's epoch ms. */
  readonly originWallMs: number
  /** The sidecar was running ahead (a spare): only the app was spawned at `spawn`. */
  readonly sidecarPrestarted: boolean
  /** COLD_START_PHASES, in that order. */
  readonly phases: readonly ColdStartPhase[]
  /** Request to first byte, ms; null unless origin is `request` and the first byte is in. */
  readonly totalMs: number | null
}

/** Clock slack between the activator's and our own readings of one system clock (both ms). */
const SLACK_MS = 2

export function buildColdStartBreakdown (pod: PodColdStart, activator: ActivatorColdStart | null): ColdStartBreakdown | null {
  const spawn = pod.spawnWallMs
  if (spawn === null) return null
  // The activator's record belongs to this pod when its request came before the spawn and its
  // endpoint became ready after it (or is not ready yet).
  const a = activator !== null && activator.requestWallMs !== null && activator.requestWallMs <= spawn + SLACK_MS &&
    (activator.endpointReadyWallMs === null || activator.endpointReadyWallMs + SLACK_MS >= spawn)
    ? activator
    : null
  const origin = a?.requestWallMs ?? spawn
  const firstByte = a?.firstByteWallMs ?? null
  const probeOk = a?.endpointReadyWallMs ?? null
  const sidecarReady = earliest(pod.sidecarReadyWallMs, probeOk)
  const appListening = earliest(pod.appListeningWallMs, sidecarReady)
  const at = [spawn, appListening, sidecarReady, probeOk, firstByte]
  const phases = COLD_START_PHASES.map((name, i) => {
    const wall = at[i] ?? null
    return { name, atMs: wall === null ? null : round1(Math.max(0, wall - origin)) }
  })
  return {
    pod: pod.pod,
    origin: a === null ? 'spawn' : 'request',
    originWallMs: origin,
    sidecarPrestarted: pod.sidecarPrestarted,
    phases,
    totalMs: firstByte === null ? null : round1(firstByte - origin),
  }
}

/** The earlier of a phase's own sighting and a later phase's instant that proves it. */
function earliest (seen: number | null, provenBy: number | null): number | null {
  if (seen === null) return provenBy
  if (provenBy === null) return seen
  return Math.min(seen, provenBy)
}

function round1 (ms: number): number {
  return Math.round(ms * 10) / 10
}

const FAMILY = 'sluice_activator_last_cold_start_timestamp_seconds'
const MAX_REVISIONS = 10_000

interface MutableActivatorColdStart {
  requestWallMs: number | null
  endpointReadyWallMs: number | null
  forwardedWallMs: number | null
  firstByteWallMs: number | null
}

/** Parses the activator's last-cold-start gauges of a Prometheus text body: revision key -> instants. */
export function parseActivatorColdStarts (text: string): Map<string, ActivatorColdStart> {
  const out = new Map<string, MutableActivatorColdStart>()
  for (const { labels, value: seconds } of samplesOf(text, FAMILY)) {
    const namespace = labels.get('namespace') ?? ''
    const revision = labels.get('revision') ?? ''
    const event = labels.get('event') ?? ''
    if (revision === '') continue
    const key = revisionKeyOf(namespace, revision)
    let entry = out.get(key)
    if (entry === undefined) {
      if (out.size >= MAX_REVISIONS) continue
      entry = { requestWallMs: null, endpointReadyWallMs: null, forwardedWallMs: null, firstByteWallMs: null }
      out.set(key, entry)
    }
    const ms = seconds * 1000
    if (event === 'request') entry.requestWallMs = ms
    else if (event === 'endpoint_ready') entry.endpointReadyWallMs = ms
    else if (event === 'forwarded') entry.forwardedWallMs = ms
    else if (event === 'first_byte') entry.firstByteWallMs = ms
  }
  return out
}

// The `local` actuator: a revision's pods are process pairs (user app + `sluice sidecar`) on free
// loopback ports, registered with the activator's admin API. The one-machine stand-in for a
// Deployment plus its EndpointSlices.
//
// Per revision it converges the live pods (starting or ready) to the requested count:
// - too few: start pods (after a crash, with a doubling delay up to 30 s, like CrashLoopBackOff);
// - too many: stop the ones not ready yet first, then the newest ready ones.
// The activator learns the endpoint list by a PUT of the full list (it replaces the revision):
// after a pod becomes ready, and before a pod is stopped, so the activator never routes to a pod
// that is going away. A starting pod whose app listens is listed as not ready (notReadyEndpoints):
// the activator probes it itself and uses it as soon as its sidecar answers, without waiting for
// our own probe and the PUT after it (Knative's activator does the same before kubelet's ready). One PUT at a time per revision, always with the latest list; a failing PUT
// is retried. A pod counts as ready for the autoscaler once the activator has its endpoint.
// No pod outlives the actuator: see process-reaper.ts.

import { fileURLToPath } from 'node:url'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { TimerHandle, Timers } from '../shared/timers.ts'
import type { ActivatorAdmin } from '../autoscaler/activator-admin-client.ts'
import { revisionKeyOf, type Actuator, type PodCounts, type PodView, type RevisionId } from '../autoscaler/actuator.ts'
import { LocalPod, NOT_SEEN, type PodOutput, type PodStartTimes } from './local-pod.ts'
import type { ProcessReaper } from './process-reaper.ts'

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))

/** `process.execPath bin/sluice sidecar`: the sidecar of this checkout, on this Node. */
export const DEFAULT_SIDECAR_COMMAND: readonly string[] = Object.freeze([process.execPath, SLUICE_BIN, 'sidecar'])
/** `process.execPath bin/sluice sample-app`. */
export const SAMPLE_APP_COMMAND: readonly string[] = Object.freeze([process.execPath, SLUICE_BIN, 'sample-app'])

const CRASH_BACKOFF_BASE_MS = 500
const CRASH_BACKOFF_MAX_MS = 30_000
const PUBLISH_RETRY_MS = 500
/** How long a stop waits for the activator to drop the endpoint before stopping anyway. */
const DEREGISTER_WAIT_MS = 5_000

/** A revision the local actuator can run. */
export interface LocalRevision extends RevisionId {
  readonly containerConcurrency: number
  /** The user app's argv; it must listen on $PORT. */
  readonly command: readonly string[]
  /** The app's fixed port (then run at most one pod); default: a free port passed as $PORT. */
  readonly userPort?: number | null
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string | null
  /** Host headers the activator routes to this revision. */
  readonly hosts?: readonly string[]
  readonly timeoutSeconds?: number | null
  /** SERVING_READINESS_PROBE (Kubernetes probe JSON); '' = TCP on the app's port. */
  readonly readinessProbe?: string
}

export interface LocalActuatorOptions {
  readonly activator: ActivatorAdmin | null
  readonly baseEnv: Readonly<Record<string, string | undefined>>
  readonly clock: Clock
  readonly timers: Timers
  readonly logger: Logger
  readonly reaper: ProcessReaper | null
  readonly output?: PodOutput | null
  readonly sidecarCommand?: readonly string[]
  /** Sidecar drain after SIGTERM, seconds (short locally: nothing routes to a deregistered pod). */
  readonly drainSeconds?: number
  readonly readyTimeoutMs?: number
  readonly terminationGraceMs?: number
  readonly maxPodsPerRevision?: number
  readonly maxPodsTotal?: number
  readonly host?: string
  /**
   * Keep one pod per revision with its sidecar already running and no app (LocalPod.prestartSidecar):
   * the next pod, a scale from zero above all, then starts only its app. Costs one idle sidecar
   * process per revision, at zero too. Default false.
   */
  readonly spareSidecars?: boolean
}

/** One pod, for the status page. */
export interface LocalPodStatus {
  readonly name: string
  readonly phase: LocalPod['phase']
  readonly registered: boolean
  readonly servingAddress: string
  readonly metricsAddress: string
  readonly pids: readonly number[]
  readonly ageMs: number
}

interface Waiter { readonly gen: number, readonly resolve: () => void }

class RevisionState {
  readonly spec: LocalRevision
  readonly key: string
  requested: number | null
  pods: LocalPod[]
  failures: number
  retryAtMs: number
  retryTimer: TimerHandle | null
  wantGen: number
  doneGen: number
  publishing: boolean
  waiters: Waiter[]
  publishFailed: boolean
  removed: boolean
  /** The first pod ready after the last scale from zero (status page). */
  coldPod: LocalPod | null
  /** A scale from zero is under way: the next pod to become ready is its coldPod. */
  fromZero: boolean
  /** The next pod with only its sidecar running (`spareSidecars`); null = none (yet). */
  spare: LocalPod | null
  /** Starting pods being stopped: left out of the lists published from now on. */
  readonly leaving: Set<LocalPod>

  constructor (spec: LocalRevision) {
    this.spec = spec
    this.key = revisionKeyOf(spec.namespace, spec.name)
    this.requested = null
    this.pods = []
    this.failures = 0
    this.retryAtMs = 0
    this.retryTimer = null
    this.wantGen = 0
    this.doneGen = 0
    this.publishing = false
    this.waiters = []
    this.publishFailed = false
    this.removed = false
    this.coldPod = null
    this.fromZero = false
    this.spare = null
    this.leaving = new Set()
  }

  live (): LocalPod[] {
    return this.pods.filter((p) => p.phase === 'starting' || p.phase === 'ready')
  }
}

export interface LocalActuatorCounters {
  /** Pods whose start began. */
  podsStarted: number
  /** Starts that failed (bad command, not ready in time). */
  startFailures: number
  /** Ready pods whose process exited on its own. */
  crashes: number
}

export class LocalActuator implements Actuator {
  readonly counters: LocalActuatorCounters
  readonly #o: LocalActuatorOptions
  readonly #revisions: Map<string, RevisionState>
  readonly #listeners: Array<(key: string) => void>
  #podSeq: number
  #closing: boolean

  constructor (options: LocalActuatorOptions) {
    this.counters = { podsStarted: 0, startFailures: 0, crashes: 0 }
    this.#o = options
    this.#revisions = new Map()
    this.#listeners = []
    this.#podSeq = 0
    this.#closing = false
  }

  /**
   * Adds a revision (0 pods) and registers it with the activator (empty endpoint list).
   * `seeded`: the activator already has it (a revisions file read at its start), so nothing is
   * sent now; pods are published as usual. Lets `up` add revisions before the activator runs.
   */
  addRevision (spec: LocalRevision, seeded = false): Promise<void> {
    const key = revisionKeyOf(spec.namespace, spec.name)
    if (this.#revisions.has(key)) throw new Error(`revision ${key} already added`)
    const state = new RevisionState(spec)
    this.#revisions.set(key, state)
    this.#prepareSpare(state)
    if (seeded) return Promise.resolve()
    return this.#publish(state)
  }

  /** Stops a revision's pods and deletes it from the activator. */
  async removeRevision (namespace: string, name: string): Promise<void> {
    const state = this.#revisions.get(revisionKeyOf(namespace, name))
    if (state === undefined) return
    state.requested = 0
    await Promise.all([...state.pods.map((p) => this.#stopPod(state, p)), this.#dropSpare(state)])
    state.removed = true
    state.retryTimer?.cancel()
    this.#revisions.delete(state.key)
    await this.#o.activator?.deleteRevision(namespace, name).catch((err: unknown) => {
      this.#o.logger.warn({ err, revision: state.key }, 'cannot delete revision from the activator')
    })
  }

  setScale (revision: RevisionId, pods: number): void {
    const state = this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))
    if (state === undefined || this.#closing) return
    const capped = Math.max(0, Math.min(pods, this.#o.maxPodsPerRevision ?? 100))
    if (capped !== pods) this.#o.logger.warn({ revision: state.key, asked: pods, capped }, 'scale capped by maxPodsPerRevision')
    if (state.requested === capped) return
    state.requested = capped
    this.#converge(state)
  }

  readyPods (revision: RevisionId): readonly PodView[] {
    const state = this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))
    if (state === undefined) return []
    return state.pods.filter((p) => p.phase === 'ready' && p.registered)
  }

  podCounts (revision: RevisionId): PodCounts {
    const state = this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))
    if (state === undefined) return { ready: 0, pending: 0, terminating: 0 }
    let ready = 0
    let pending = 0
    let terminating = 0
    for (const p of state.pods) {
      if (p.phase === 'ready' && p.registered) ready++
      else if (p.phase === 'starting' || p.phase === 'ready') pending++
      else if (p.phase === 'terminating') terminating++
    }
    return { ready, pending, terminating }
  }

  requestedScale (revision: RevisionId): number | null {
    return this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))?.requested ?? null
  }

  watch (listener: (key: string) => void): void {
    this.#listeners.push(listener)
  }

  /** Per-pod detail for the status page. */
  pods (revision: RevisionId): LocalPodStatus[] {
    const state = this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))
    if (state === undefined) return []
    const nowMs = this.#o.clock.nowMs()
    return state.pods.map((p) => ({
      name: p.name,
      phase: p.phase,
      registered: p.registered,
      servingAddress: p.servingAddress,
      metricsAddress: p.metricsAddress,
      pids: p.pids,
      ageMs: nowMs - p.startedAtMs,
    }))
  }

  /** The first pod ready after the last scale from zero, and its start instants; null before any. Kept after the pod stops. */
  coldStart (revision: RevisionId): { readonly pod: string, readonly times: PodStartTimes } | null {
    const pod = this.#revisions.get(revisionKeyOf(revision.namespace, revision.name))?.coldPod ?? null
    return pod === null ? null : { pod: pod.name, times: pod.startTimes }
  }

  /** Every process group of every pod still running (tests check none is left). */
  allPids (): number[] {
    const out: number[] = []
    for (const s of this.#revisions.values()) {
      for (const p of s.pods) out.push(...p.pids)
      if (s.spare !== null) out.push(...s.spare.pids)
    }
    return out
  }

  /** Stops every pod: deregisters them (briefly waiting for the activator), then stops them gracefully. */
  async close (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    const all: Array<Promise<void>> = []
    for (const state of this.#revisions.values()) {
      state.requested = 0
      state.retryTimer?.cancel()
      for (const p of state.pods) all.push(this.#stopPod(state, p, 1_000))
      all.push(this.#dropSpare(state))
    }
    await Promise.all(all)
    for (const state of this.#revisions.values()) {
      for (const w of state.waiters) w.resolve()
      state.waiters = []
    }
  }

  #notify (key: string): void {
    for (const l of this.#listeners) {
      try { l(key) } catch (err) { this.#o.logger.error({ err, revision: key }, 'actuator watcher failed') }
    }
  }

  #totalLive (): number {
    let n = 0
    for (const s of this.#revisions.values()) n += s.live().length
    return n
  }

  #converge (state: RevisionState): void {
    if (this.#closing || state.removed) return
    const want = state.requested ?? 0
    const live = state.live()
    if (live.length > want) {
      // Not-yet-ready pods first (nothing routed to them), then the newest ready ones.
      const victims = live.slice().sort((a, b) => {
        if (a.phase !== b.phase) return a.phase === 'starting' ? -1 : 1
        return b.startedAtMs - a.startedAtMs
      }).slice(0, live.length - want)
      for (const p of victims) void this.#stopPod(state, p)
      return
    }
    if (live.length === want) return
    const nowMs = this.#o.clock.nowMs()
    if (nowMs < state.retryAtMs) {
      if (state.retryTimer === null) {
        state.retryTimer = this.#o.timers.setTimeout(() => {
          state.retryTimer = null
          this.#converge(state)
        }, state.retryAtMs - nowMs)
      }
      return
    }
    const room = Math.max(0, (this.#o.maxPodsTotal ?? 200) - this.#totalLive())
    const toStart = Math.min(want - live.length, room)
    if (toStart < want - live.length) this.#o.logger.warn({ revision: state.key, want, room }, 'pod start capped by maxPodsTotal')
    for (let i = 0; i < toStart; i++) this.#startPod(state)
  }

  /** Starts a pod: the spare when its sidecar still runs (then only the app is spawned), else a new one. */
  #startPod (state: RevisionState): void {
    const o = this.#o
    let pod = state.spare
    state.spare = null
    if (pod !== null && !pod.isSpareUsable) {
      o.logger.warn({ revision: state.key, pod: pod.name }, 'spare sidecar is gone; starting a pod from scratch')
      void pod.stop()
      pod = null
    }
    this.#runPod(state, pod ?? this.#newPod(state))
  }

  #newPod (state: RevisionState): LocalPod {
    const s = state.spec
    const o = this.#o
    const podName = `${s.name}-${String(++this.#podSeq).padStart(4, '0')}`
    return new LocalPod({
      spec: {
        namespace: s.namespace,
        revision: s.name,
        podName,
        containerConcurrency: s.containerConcurrency,
        command: s.command,
        userPort: s.userPort ?? null,
        env: s.env ?? {},
        cwd: s.cwd ?? null,
        timeoutSeconds: s.timeoutSeconds ?? null,
        readinessProbe: s.readinessProbe ?? '',
        sidecarCommand: o.sidecarCommand ?? DEFAULT_SIDECAR_COMMAND,
        baseEnv: o.baseEnv,
        drainSeconds: o.drainSeconds ?? 0.5,
        host: o.host ?? '127.0.0.1',
      },
      clock: o.clock,
      timers: o.timers,
      reaper: o.reaper,
      output: o.output ?? null,
      readyTimeoutMs: o.readyTimeoutMs ?? 60_000,
      terminationGraceMs: o.terminationGraceMs ?? 30_000,
      onExit: (p, error) => { this.#onPodCrash(state, p, error) },
      onAppListening: (p) => { if (state.pods.includes(p)) void this.#publish(state) },
    })
  }

  /**
   * With `spareSidecars`, makes sure the revision has a spare: a pod whose sidecar runs, waiting for
   * an app. Started after a pod is ready rather than during its start, so the two starts do not
   * compete for the CPU.
   */
  #prepareSpare (state: RevisionState): void {
    if (this.#o.spareSidecars !== true || state.spare !== null || state.removed || this.#closing) return
    const pod = this.#newPod(state)
    state.spare = pod
    pod.prestartSidecar().then(() => {
      this.#o.logger.debug({ revision: state.key, pod: pod.name }, 'spare sidecar started')
    }, (err: unknown) => {
      if (state.spare === pod) state.spare = null
      this.#o.logger.warn({ err, revision: state.key, pod: pod.name }, 'spare sidecar failed to start')
    })
  }

  async #dropSpare (state: RevisionState): Promise<void> {
    const spare = state.spare
    state.spare = null
    await spare?.stop()
  }

  /** Starts the pod's processes and follows its start: publish when ready, back off on failure. */
  #runPod (state: RevisionState, pod: LocalPod): void {
    const o = this.#o
    const podName = pod.name
    if (!state.pods.some((p) => p.phase === 'ready' || p.phase === 'starting')) state.fromZero = true
    state.pods.push(pod)
    this.counters.podsStarted++
    const startMs = o.clock.nowMs()
    this.#notify(state.key)
    pod.start().then(async () => {
      if (pod.phase !== 'ready') return
      state.failures = 0
      if (state.fromZero) {
        state.fromZero = false
        state.coldPod = pod
      }
      this.#prepareSpare(state)
      o.logger.info({ revision: state.key, pod: podName, startMs: Math.round(o.clock.nowMs() - startMs), ports: pod.ports }, 'pod ready')
      await this.#publish(state)
      this.#converge(state)
    }, (err: unknown) => {
      this.#forget(state, pod)
      if (this.#closing || state.removed) return
      // It may have been listed as not ready: the activator must stop probing it.
      if (pod.startTimes.appListeningWallMs !== NOT_SEEN) void this.#publish(state)
      this.counters.startFailures++
      state.failures++
      const delayMs = Math.min(CRASH_BACKOFF_MAX_MS, CRASH_BACKOFF_BASE_MS * 2 ** (state.failures - 1))
      state.retryAtMs = o.clock.nowMs() + delayMs
      o.logger.error({ err, revision: state.key, pod: podName, retryInMs: delayMs }, 'pod failed to start')
      this.#notify(state.key)
      this.#converge(state)
    }).catch((err: unknown) => { o.logger.error({ err }, 'pod start handling failed') })
  }

  #onPodCrash (state: RevisionState, pod: LocalPod, error: Error): void {
    this.#forget(state, pod)
    if (this.#closing || state.removed) return
    this.counters.crashes++
    state.failures++
    state.retryAtMs = this.#o.clock.nowMs() + Math.min(CRASH_BACKOFF_MAX_MS, CRASH_BACKOFF_BASE_MS * 2 ** (state.failures - 1))
    this.#o.logger.error({ err: error, revision: state.key, pod: pod.name }, 'pod exited unexpectedly')
    void this.#publish(state)
    this.#notify(state.key)
    this.#converge(state)
  }

  #forget (state: RevisionState, pod: LocalPod): void {
    const i = state.pods.indexOf(pod)
    if (i !== -1) state.pods.splice(i, 1)
  }

  async #stopPod (state: RevisionState, pod: LocalPod, deregisterWaitMs = DEREGISTER_WAIT_MS): Promise<void> {
    if (pod.phase === 'terminating' || pod.phase === 'stopped') return
    const wasReady = pod.phase === 'ready'
    if (!wasReady && isListedStarting(pod)) {
      // The activator may be probing it, or already sending to it: off the list before the kill.
      state.leaving.add(pod)
      await this.#withTimeout(this.#publish(state), deregisterWaitMs)
    }
    // Out of the live and ready sets now; the processes get SIGTERM only once the activator has
    // the list without this pod (or after the wait, if the activator does not answer).
    pod.beginTermination()
    pod.registered = false
    this.#notify(state.key)
    if (wasReady) await this.#withTimeout(this.#publish(state), deregisterWaitMs)
    await pod.stop()
    state.leaving.delete(pod)
    this.#forget(state, pod)
    this.#o.logger.info({ revision: state.key, pod: pod.name }, 'pod stopped')
    this.#notify(state.key)
  }

  #withTimeout (p: Promise<void>, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#o.timers.setTimeout(resolve, ms)
      p.then(() => { timer.cancel(); resolve() }, () => { timer.cancel(); resolve() })
    })
  }

  /** Resolves once the activator has an endpoint list at least as new as the state now. */
  #publish (state: RevisionState): Promise<void> {
    const activator = this.#o.activator
    if (activator === null) {
      for (const p of state.pods) if (p.phase === 'ready') p.registered = true
      this.#notify(state.key)
      return Promise.resolve()
    }
    const gen = ++state.wantGen
    const done = new Promise<void>((resolve) => { state.waiters.push({ gen, resolve }) })
    if (!state.publishing) void this.#runPublisher(state, activator)
    return done
  }

  async #runPublisher (state: RevisionState, activator: ActivatorAdmin): Promise<void> {
    state.publishing = true
    try {
      while (state.doneGen < state.wantGen && !state.removed) {
        const gen = state.wantGen
        const ready = state.pods.filter((p) => p.phase === 'ready')
        const starting = state.pods.filter((p) => isListedStarting(p) && !state.leaving.has(p))
        try {
          await activator.putRevision({
            namespace: state.spec.namespace,
            name: state.spec.name,
            containerConcurrency: state.spec.containerConcurrency,
            endpoints: ready.map((p) => p.servingAddress),
            notReadyEndpoints: starting.map((p) => p.servingAddress),
            hosts: state.spec.hosts ?? [],
            timeoutSeconds: state.spec.timeoutSeconds ?? null,
          })
          if (state.publishFailed) this.#o.logger.info({ revision: state.key }, 'activator admin API reachable again')
          state.publishFailed = false
          const nowWallMs = this.#o.clock.wallMs()
          for (const p of ready) {
            if (p.phase !== 'ready') continue
            p.registered = true
            if (p.startTimes.registeredWallMs === NOT_SEEN) p.startTimes.registeredWallMs = nowWallMs
          }
          state.doneGen = gen
          const still: Waiter[] = []
          for (const w of state.waiters) {
            if (w.gen <= gen) w.resolve()
            else still.push(w)
          }
          state.waiters = still
          this.#notify(state.key)
        } catch (err) {
          if (!state.publishFailed) this.#o.logger.warn({ err, revision: state.key }, 'cannot update the activator; retrying')
          state.publishFailed = true
          if (this.#closing) break
          await new Promise<void>((resolve) => { this.#o.timers.setTimeout(resolve, PUBLISH_RETRY_MS) })
        }
      }
    } finally {
      state.publishing = false
    }
  }
}

/**
 * A starting pod whose app already listens: listed for the activator as not ready, so the
 * activator's own probe (through the sidecar) can put it in rotation the moment it answers, as
 * Knative's activator does with a pod kubelet has not marked ready yet (revision_backends.go).
 */
function isListedStarting (pod: LocalPod): boolean {
  return pod.phase === 'starting' && pod.startTimes.appListeningWallMs !== NOT_SEEN
}

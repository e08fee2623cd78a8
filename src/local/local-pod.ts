// One local "pod": a user-app process and a sidecar process in front of it, on free loopback
// ports, each in its own process group (so a user command that forks is stopped as a whole).
//
//   start(): pick ports -> spawn app (PORT) and sidecar (USER_PORT, CONTAINER_CONCURRENCY, ...)
//            -> probe the sidecar like the activator does (K-Network-Probe: queue) until 200 `queue` (proxy/endpoint-probe.ts);
//            meanwhile tell the actuator when the app first accepts a connection (onAppListening)
//   prestartSidecar(): pick ports and spawn the sidecar alone, ahead (the actuator's spare); a later
//            start() then spawns only the app
//   stop():  SIGTERM the sidecar (it fails probes and drains in-flight requests), then SIGTERM the
//            app once the sidecar is gone; SIGKILL whichever outlives its grace period
//
// An exit nobody asked for (crash, OOM, bad command) kills the sibling and is reported once
// through `onExit`, with the last lines the pod printed, so the actuator can replace the pod.

import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import type { Clock } from '../shared/clock.ts'
import { PodStartError } from '../shared/errors.ts'
import { HttpEndpointProbe } from '../proxy/endpoint-probe.ts'
import type { Timers } from '../shared/timers.ts'
import { pickFreePorts } from './free-port.ts'
import type { PodView } from '../autoscaler/actuator.ts'
import type { ProcessReaper } from './process-reaper.ts'

export type PodPhase = 'starting' | 'ready' | 'terminating' | 'stopped'

/** Where the pod's output lines go (a log file, the terminal, or nowhere). */
export interface PodOutput {
  line (pod: string, process: 'app' | 'sidecar', text: string): void
}

export interface LocalPodSpec {
  readonly namespace: string
  readonly revision: string
  readonly podName: string
  readonly containerConcurrency: number
  /** The user app: argv[0] is the executable. It must listen on the PORT env var. */
  readonly command: readonly string[]
  /** The app's fixed port, or null: a free port is picked and passed as PORT. */
  readonly userPort: number | null
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | null
  readonly timeoutSeconds: number | null
  /** SERVING_READINESS_PROBE for the sidecar; '' = TCP on the app's port. */
  readonly readinessProbe: string
  /** How to run `sluice sidecar` (argv[0] the executable). */
  readonly sidecarCommand: readonly string[]
  /** Environment both processes inherit (PATH, HOME, ...), read once by the CLI. */
  readonly baseEnv: Readonly<Record<string, string | undefined>>
  /** Sidecar --drain-seconds: quiet period after SIGTERM. */
  readonly drainSeconds: number
  readonly host: string
}

export interface LocalPodOptions {
  readonly spec: LocalPodSpec
  readonly clock: Clock
  readonly timers: Timers
  readonly reaper: ProcessReaper | null
  readonly output: PodOutput | null
  /** Give up a start after this long (ms). */
  readonly readyTimeoutMs: number
  /** SIGKILL a process still running this long after its SIGTERM (ms). */
  readonly terminationGraceMs: number
  /** Called once when a process exits without stop() having been called. */
  readonly onExit: (pod: LocalPod, error: PodStartError) => void
  /**
   * Called once while starting, when the app first accepts a connection: from then on a probe
   * through the sidecar (a long poll until the sidecar's own check passes) can tell readiness, so
   * the actuator lists the pod for the activator to probe (notReadyEndpoints).
   */
  readonly onAppListening?: (pod: LocalPod) => void
}

export interface LocalPodPorts {
  readonly user: number
  readonly serving: number
  readonly admin: number
  readonly metrics: number
}

/**
 * Gap between our probes of the sidecar while it starts. Short: until the sidecar listens an attempt
 * is a refused loopback connect (microseconds), and once it listens the probe is a long poll (the
 * sidecar answers when the app is ready), so the gap only delays noticing the sidecar's listen,
 * which is on the cold start's path. Knative's own pollers use 50 ms (queue-proxy) and 200 ms (activator).
 */
const PROBE_INTERVAL_MS = 5
/** How often the app's port is tried while the pod starts (only to time "app listening"). */
const APP_POLL_MS = 5
/** A start instant not seen (yet). */
export const NOT_SEEN = -1

/** Wall-clock instants of one pod's start, epoch ms; NOT_SEEN until seen. */
export class PodStartTimes {
  /** Just before the two processes were spawned. */
  spawnWallMs: number
  /** The app first accepted a connection on its port. */
  appListeningWallMs: number
  /** Our probe through the sidecar (K-Network-Probe: queue) first got 200. */
  sidecarReadyWallMs: number
  /** The sidecar was spawned ahead, as a spare (spawnWallMs is then the app's spawn alone). */
  sidecarPrestarted: boolean
  /** The activator had the endpoint (the actuator's PUT answered). */
  registeredWallMs: number

  constructor () {
    this.spawnWallMs = NOT_SEEN
    this.appListeningWallMs = NOT_SEEN
    this.sidecarReadyWallMs = NOT_SEEN
    this.sidecarPrestarted = false
    this.registeredWallMs = NOT_SEEN
  }
}
const PROBE_TIMEOUT_MS = 1_000
const OUTPUT_LINES_KEPT = 20
/** The app gets this long after SIGTERM when it is stopped after its sidecar. */
const APP_STOP_GRACE_MS = 5_000

interface Proc {
  readonly child: ChildProcess
  readonly pid: number
  exited: boolean
  readonly exitedPromise: Promise<void>
  code: number | null
  signal: NodeJS.Signals | null
}

/** The activator's probe of a sidecar: ready when it answers 200 `queue` (the user container is ready). */
const SIDECAR_PROBE = new HttpEndpointProbe()

function probeSidecar (host: string, port: number): Promise<boolean> {
  // A colon can only be an IPv6 literal's.
  return SIDECAR_PROBE.probe(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, PROBE_TIMEOUT_MS)
}

export class LocalPod implements PodView {
  readonly name: string
  readonly spec: LocalPodSpec
  readonly #o: LocalPodOptions
  #phase: PodPhase
  #ports: LocalPodPorts | null
  #app: Proc | null
  #sidecar: Proc | null
  #startedAtMs: number
  #readyAtMs: number | null
  /**
   * Wall-clock instants of the start (epoch ms; NOT_SEEN until seen), for the cold-start breakdown
   * beside the activator's own (another process: the system clock is the shared time base).
   */
  readonly startTimes: PodStartTimes
  /** Set by the actuator once the activator has this pod's endpoint. */
  registered: boolean
  readonly #recent: string[]
  #stopping: Promise<void> | null
  /** prestartSidecar() in progress. */
  #prestarting: Promise<void> | null
  #exitReported: boolean
  #killedWhileStarting: boolean

  constructor (options: LocalPodOptions) {
    this.name = options.spec.podName
    this.spec = options.spec
    this.#o = options
    this.#phase = 'starting'
    this.#ports = null
    this.#app = null
    this.#sidecar = null
    this.#startedAtMs = options.clock.nowMs()
    this.#readyAtMs = null
    this.startTimes = new PodStartTimes()
    this.registered = false
    this.#recent = []
    this.#stopping = null
    this.#prestarting = null
    this.#exitReported = false
    this.#killedWhileStarting = false
  }

  get phase (): PodPhase { return this.#phase }
  get ports (): LocalPodPorts | null { return this.#ports }
  get startedAtMs (): number { return this.#startedAtMs }
  get readyAtMs (): number | null { return this.#readyAtMs }
  get servingAddress (): string { return `${this.spec.host}:${this.#ports?.serving ?? 0}` }
  get metricsAddress (): string { return `${this.spec.host}:${this.#ports?.metrics ?? 0}` }
  /** Process group ids (= leader pids) still running. */
  get pids (): number[] {
    const out: number[] = []
    if (this.#app !== null && !this.#app.exited) out.push(this.#app.pid)
    if (this.#sidecar !== null && !this.#sidecar.exited) out.push(this.#sidecar.pid)
    return out
  }

  /** The last lines the pod printed (for error messages). */
  recentOutput (): string[] { return this.#recent.slice() }

  /** A spare worth starting: not stopped, and its sidecar runs or is being spawned. */
  get isSpareUsable (): boolean {
    return this.#phase === 'starting' && (this.#prestarting !== null || (this.#sidecar !== null && !this.#sidecar.exited))
  }

  /**
   * Picks the ports and spawns the sidecar alone, ahead of start(): the actuator's spare, the
   * platform's half of the next pod, warm before a scale from zero needs it (the app's cold start
   * stays the app's). Until start() nothing probes it, so it only waits. Rejects with PodStartError
   * (pod stopped).
   */
  prestartSidecar (): Promise<void> {
    this.#prestarting ??= (async () => {
      try {
        await this.#pickPorts()
        if (this.#phase !== 'starting') throw new PodStartError('stopped while starting')
        this.#spawnSidecar()
        this.startTimes.sidecarPrestarted = true
      } catch (err) {
        throw await this.#failStart(err)
      } finally {
        this.#prestarting = null
      }
    })()
    return this.#prestarting
  }

  /**
   * Spawns the app, and the sidecar unless prestartSidecar() did, and resolves once the sidecar
   * reports the app ready. Rejects with PodStartError (pod stopped).
   */
  async start (): Promise<void> {
    const s = this.spec
    try {
      // A spare still spawning its sidecar: let it finish (a failure leaves the pod stopped).
      if (this.#prestarting !== null) await this.#prestarting.catch(() => {})
      if (this.#ports === null) await this.#pickPorts()
      const ports = this.#ports
      if (ports === null) throw new PodStartError('no ports')
      if (this.#phase !== 'starting') throw new PodStartError('stopped while starting')
      this.#startedAtMs = this.#o.clock.nowMs()
      this.startTimes.spawnWallMs = this.#o.clock.wallMs()
      const [appCmd, ...appArgs] = s.command
      // Knative gives the user container PORT and K_* identity variables; POD_NAME stands in for
      // the Kubernetes HOSTNAME.
      this.#app = this.#spawn('app', appCmd, appArgs, {
        ...s.baseEnv,
        K_REVISION: s.revision,
        K_CONFIGURATION: s.revision,
        POD_NAME: s.podName,
        ...s.env,
        PORT: String(ports.user),
      })
      if (this.#sidecar === null) this.#spawnSidecar()
      this.#watchAppListening(s.host, ports.user)
      await this.#waitReady()
      this.startTimes.sidecarReadyWallMs = this.#o.clock.wallMs()
      this.#phase = 'ready'
      this.#readyAtMs = this.#o.clock.nowMs()
    } catch (err) {
      throw await this.#failStart(err)
    }
  }

  async #pickPorts (): Promise<void> {
    const s = this.spec
    const [serving, admin, metrics, picked] = await pickFreePorts(s.userPort === null ? 4 : 3, s.host)
    this.#ports = { user: s.userPort ?? picked, serving, admin, metrics }
  }

  #spawnSidecar (): void {
    const s = this.spec
    const ports = this.#ports
    if (ports === null) throw new PodStartError('no ports')
    const [scCmd, ...scArgs] = s.sidecarCommand
    this.#sidecar = this.#spawn('sidecar', scCmd, [
      ...scArgs,
      '--host', s.host, '--port', String(ports.serving), '--admin-port', String(ports.admin), '--metrics-port', String(ports.metrics),
      '--drain-seconds', String(s.drainSeconds),
    ], {
      ...s.baseEnv,
      USER_PORT: String(ports.user),
      CONTAINER_CONCURRENCY: String(s.containerConcurrency),
      SERVING_NAMESPACE: s.namespace,
      SERVING_CONFIGURATION: s.revision,
      SERVING_REVISION: s.revision,
      SERVING_POD: s.podName,
      SERVING_POD_IP: s.host,
      REVISION_TIMEOUT_SECONDS: String(s.timeoutSeconds ?? 300),
      SERVING_READINESS_PROBE: s.readinessProbe,
    })
  }

  /** A failed start: kill what runs, wait for it, mark the pod stopped; the error to throw. */
  async #failStart (err: unknown): Promise<PodStartError> {
    const error = err instanceof PodStartError ? err : new PodStartError(`pod ${this.name} failed to start`, { cause: err })
    this.#killNow()
    await Promise.all([this.#app?.exitedPromise, this.#sidecar?.exitedPromise])
    this.#phase = 'stopped'
    return error
  }

  /**
   * Marks the pod as going away: it no longer counts as live or ready. A pod still starting is
   * killed at once (nothing was routed to it); a ready one keeps running until stop().
   */
  beginTermination (): void {
    if (this.#phase === 'starting') {
      this.#killedWhileStarting = true
      this.#phase = 'terminating'
      this.#killNow()
    } else if (this.#phase === 'ready') {
      this.#phase = 'terminating'
    }
  }

  /** Graceful stop (see the file comment). Idempotent. */
  stop (): Promise<void> {
    if (this.#stopping !== null) return this.#stopping
    this.beginTermination()
    this.#stopping = (async () => {
      if (!this.#killedWhileStarting) {
        await this.#terminate(this.#sidecar, this.#o.terminationGraceMs)
        await this.#terminate(this.#app, APP_STOP_GRACE_MS)
      }
      await Promise.all([this.#app?.exitedPromise, this.#sidecar?.exitedPromise])
      this.#phase = 'stopped'
    })()
    return this.#stopping
  }

  /** SIGKILL both process groups now (crash paths). */
  killNow (): void {
    this.#phase = this.#phase === 'stopped' ? 'stopped' : 'terminating'
    this.#killNow()
  }

  #killNow (): void {
    for (const p of [this.#app, this.#sidecar]) {
      if (p !== null && !p.exited) {
        try { process.kill(-p.pid, 'SIGKILL') } catch { /* gone */ }
      }
    }
  }

  async #terminate (p: Proc | null, graceMs: number): Promise<void> {
    if (p === null || p.exited) return
    try { process.kill(-p.pid, 'SIGTERM') } catch { return }
    const kill = this.#o.timers.setTimeout(() => {
      try { process.kill(-p.pid, 'SIGKILL') } catch { /* gone */ }
    }, graceMs)
    await p.exitedPromise
    kill.cancel()
  }

  /**
   * Notes when the app first accepts a TCP connection (the breakdown's "app listening"): connects
   * every APP_POLL_MS while starting. A refused loopback connect costs microseconds; the sidecar's
   * own check is what gates readiness, this only watches.
   */
  #watchAppListening (host: string, port: number): void {
    const attempt = (): void => {
      if (this.#phase !== 'starting' || this.startTimes.appListeningWallMs !== NOT_SEEN) return
      const socket = connect({ host, port })
      socket.once('connect', () => {
        socket.destroy()
        if (this.startTimes.appListeningWallMs !== NOT_SEEN) return
        this.startTimes.appListeningWallMs = this.#o.clock.wallMs()
        if (this.#phase === 'starting') this.#o.onAppListening?.(this)
      })
      socket.once('error', () => {
        socket.destroy()
        this.#o.timers.setTimeout(attempt, APP_POLL_MS)
      })
    }
    attempt()
  }

  async #waitReady (): Promise<void> {
    const deadline = this.#o.clock.nowMs() + this.#o.readyTimeoutMs
    const ports = this.#ports
    if (ports === null) throw new PodStartError('no ports')
    for (;;) {
      if (this.#phase !== 'starting') throw new PodStartError(`pod ${this.name} stopped while starting`)
      const dead = this.#app?.exited === true ? this.#app : this.#sidecar?.exited === true ? this.#sidecar : null
      if (dead !== null) throw this.#exitError(dead === this.#app ? 'app' : 'sidecar', dead)
      // Not before the app listens: a probe then would start the sidecar's own check, which polls
      // the app every 50 ms (Knative's retryInterval), and the activator's probe joins that check;
      // after, the check's first attempt passes (TCP readiness) and both probes answer at once.
      if (this.startTimes.appListeningWallMs !== NOT_SEEN && await probeSidecar(this.spec.host, ports.serving)) return
      if (this.#o.clock.nowMs() > deadline) {
        throw new PodStartError(`pod ${this.name} not ready after ${Math.round(this.#o.readyTimeoutMs / 1000)} s${this.#tail()}`)
      }
      await new Promise<void>((resolve) => { this.#o.timers.setTimeout(resolve, PROBE_INTERVAL_MS) })
    }
  }

  #exitError (which: 'app' | 'sidecar', p: Proc): PodStartError {
    const how = p.signal !== null ? `signal ${p.signal}` : `code ${p.code ?? '?'}`
    return new PodStartError(`pod ${this.name}: ${which} exited (${how})${this.#tail()}`)
  }

  #tail (): string {
    return this.#recent.length === 0 ? '' : '; last output:\n  ' + this.#recent.slice(-8).join('\n  ')
  }

  #remember (which: 'app' | 'sidecar', text: string): void {
    this.#recent.push(`[${which}] ${text.length > 300 ? text.slice(0, 300) + '…' : text}`)
    if (this.#recent.length > OUTPUT_LINES_KEPT) this.#recent.splice(0, this.#recent.length - OUTPUT_LINES_KEPT)
    this.#o.output?.line(this.name, which, text)
  }

  #spawn (which: 'app' | 'sidecar', cmd: string | undefined, args: string[], env: Record<string, string | undefined>): Proc {
    if (cmd === undefined || cmd === '') throw new PodStartError(`pod ${this.name}: empty ${which} command`)
    const child = spawn(cmd, args, {
      env,
      cwd: this.spec.cwd ?? undefined,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let onExited: () => void = () => {}
    const proc: Proc = {
      child,
      pid: child.pid ?? -1,
      exited: false,
      exitedPromise: new Promise<void>((resolve) => { onExited = resolve }),
      code: null,
      signal: null,
    }
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (proc.exited) return
      proc.exited = true
      proc.code = code
      proc.signal = signal
      if (proc.pid > 0) {
        // Stragglers the process forked share its group.
        try { process.kill(-proc.pid, 'SIGKILL') } catch { /* empty group */ }
        this.#o.reaper?.untrack(proc.pid)
      }
      onExited()
      this.#onProcessExit(which, proc)
    }
    child.on('error', (err) => {
      this.#remember(which, `spawn failed: ${err.message}`)
      finish(null, null)
    })
    child.on('exit', (code, signal) => { finish(code, signal) })
    if (proc.pid > 0) this.#o.reaper?.track(proc.pid)
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => { this.#remember(which, line) })
    }
    return proc
  }

  #onProcessExit (which: 'app' | 'sidecar', p: Proc): void {
    if (this.#phase !== 'ready' || this.#exitReported) return
    // Unexpected: take the sibling down too and report once.
    this.#exitReported = true
    this.#phase = 'terminating'
    const error = this.#exitError(which, p)
    this.#killNow()
    Promise.all([this.#app?.exitedPromise, this.#sidecar?.exitedPromise]).then(() => {
      this.#phase = 'stopped'
      this.#o.onExit(this, error)
    }, () => {})
  }
}

// What every fault scenario shares: the stack under test (app -> sidecar, or app -> sidecar -> activator),
// the process readings (RSS, open fds, load average) and the result record. Processes start through the
// load test's ChildGroup (own process group each, killed on exit), ports and readiness through targets.ts.

import { readdirSync, readFileSync } from 'node:fs'
import { WebSocket } from 'ws'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildGroup, StartedChild } from '../harness/child-group.ts'
import { sampleValue } from '../harness/cold-start.ts'
import { freePort, HOST, httpCall, startActivator, waitForListen, waitForOk } from '../harness/targets.ts'
import type { RunningActivator } from '../harness/targets.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const SLUICE_BIN = join(REPO, 'bin', 'sluice')
const APP = join(REPO, 'loadtest', 'faults', 'fault-app.ts')
export const NAMESPACE = 'default'
export const REVISION = 'faults'
/** Knative's ingress sets these; the activator routes on them, the sidecar strips them. */
export const ROUTING: Readonly<Record<string, string>> = Object.freeze({ 'Knative-Serving-Namespace': NAMESPACE, 'Knative-Serving-Revision': REVISION })
export const ROUTING_LINES: readonly string[] = Object.entries(ROUTING).map(([k, v]) => `${k}: ${v}`)
const ENDPOINTS_WAIT_MS = 15_000

export type TargetKind = 'sidecar' | 'activator'

export interface FaultContext {
  readonly group: ChildGroup
  readonly dir: string
  readonly soakMinutes: number
  readonly log: (line: string) => void
}

export interface Check {
  readonly name: string
  readonly want: string
  readonly got: string
  readonly pass: boolean
}

export interface ScenarioResult {
  readonly scenario: string
  readonly target: TargetKind
  readonly startedAt: string
  readonly durationS: number
  /** 1/5/15-minute load averages at the start and at the end (2 cores, shared with other engineers). */
  readonly loadavgStart: readonly number[]
  readonly loadavgEnd: readonly number[]
  readonly pass: boolean
  readonly checks: readonly Check[]
  readonly figures: Readonly<Record<string, number | string | null>>
  readonly commands: readonly string[]
  readonly notes: readonly string[]
}

/** Collects one scenario's checks, figures, commands and notes, then freezes them into a result. */
export class ScenarioRecorder {
  readonly #scenario: string
  readonly #target: TargetKind
  readonly #started = new Date()
  readonly #t0 = performance.now()
  readonly #load0 = loadavg().map(round2)
  readonly checks: Check[] = []
  readonly figures: Record<string, number | string | null> = {}
  readonly commands: string[] = []
  readonly notes: string[] = []

  constructor (scenario: string, target: TargetKind) {
    this.#scenario = scenario
    this.#target = target
  }

  check (name: string, pass: boolean, want: string, got: string): void {
    this.checks.push({ name, want, got, pass })
  }

  finish (): ScenarioResult {
    return {
      scenario: this.#scenario,
      target: this.#target,
      startedAt: this.#started.toISOString(),
      durationS: round2((performance.now() - this.#t0) / 1000),
      loadavgStart: this.#load0,
      loadavgEnd: loadavg().map(round2),
      pass: this.checks.length > 0 && this.checks.every((c) => c.pass),
      checks: this.checks,
      figures: this.figures,
      commands: this.commands,
      notes: this.notes,
    }
  }
}

export function round2 (x: number): number {
  return Math.round(x * 100) / 100
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** VmRSS of one process, kB (0 when it is gone). */
export function rssKb (pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m?.[1] !== undefined ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

/** Open file descriptors of one process (entries of /proc/<pid>/fd); -1 when it is gone. */
export function fdCount (pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return -1
  }
}

/** The open-files soft limit of a running process. */
export function fdLimit (pid: number): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
    return m?.[1] !== undefined ? Number(m[1]) : -1
  } catch {
    return -1
  }
}

export interface Gauges { readonly inFlight: number, readonly queued: number }

/** The proxy's in-flight requests and queue entries, as its metrics port reports them. */
export interface Front {
  readonly kind: TargetKind
  readonly port: number
  /** The process under test (the sidecar, or the activator). */
  readonly pid: number
  readonly child: StartedChild
  readonly headers: Readonly<Record<string, string>>
  readonly headerLines: readonly string[]
  gauges (): Promise<Gauges>
}

export interface Sidecar {
  readonly port: number
  readonly adminPort: number
  readonly metricsPort: number
  readonly child: StartedChild
  readonly command: string
}

export interface App {
  readonly port: number
  child: StartedChild
  readonly command: string
}

export async function startApp (ctx: FaultContext, port: number | null = null): Promise<App> {
  const p = port ?? await freePort()
  const child = ctx.group.start('fault-app', process.execPath, [APP, String(p), HOST], { logPath: join(ctx.dir, `fault-app-${p}.log`) })
  await waitForListen(p)
  return { port: p, child, command: `node loadtest/faults/fault-app.ts ${p} ${HOST}` }
}

/** Restarts the app on its port (after a kill). */
export async function restartApp (ctx: FaultContext, app: App): Promise<void> {
  app.child = ctx.group.start('fault-app', process.execPath, [APP, String(app.port), HOST], { logPath: join(ctx.dir, `fault-app-${app.port}-again.log`) })
}

/** `bin/sluice sidecar` in front of the app: CC 10, --log-level warn, plus `extra` (and Node flags `nodeArgs`). */
export async function startSidecar (ctx: FaultContext, name: string, appPort: number, extra: readonly string[] = [], nodeArgs: readonly string[] = []): Promise<Sidecar> {
  const port = await freePort()
  const adminPort = await freePort()
  const metricsPort = await freePort()
  const args = [
    ...nodeArgs, SLUICE_BIN, 'sidecar', '--host', HOST, '--port', String(port), '--admin-port', String(adminPort),
    '--metrics-port', String(metricsPort), '--user-port', String(appPort), '--container-concurrency', '10',
    '--log-level', 'warn', ...extra,
  ]
  const child = ctx.group.start(name, process.execPath, args, { logPath: join(ctx.dir, `${name}.log`), cwd: REPO })
  await waitForOk(port, child)
  return { port, adminPort, metricsPort, child, command: `node ${args.join(' ').replace(SLUICE_BIN, 'bin/sluice')}` }
}

export async function sidecarGauges (metricsPort: number): Promise<Gauges> {
  const r = await httpCall('GET', metricsPort, '/metrics?format=json', null)
  const proxy: unknown = r.status === 200 ? (JSON.parse(r.body) as { proxy: unknown }).proxy : null
  const p = proxy as { inFlight?: number, queueDepth?: number } | null
  return { inFlight: p?.inFlight ?? Number.NaN, queued: p?.queueDepth ?? Number.NaN }
}

/** The activator's gauges come from its Prometheus page, rebuilt once a second: wait > 1 s after the load. */
export async function activatorGauges (metricsPort: number): Promise<Gauges> {
  const r = await httpCall('GET', metricsPort, '/metrics', null)
  const l = `namespace="${NAMESPACE}",revision="${REVISION}"`
  return { inFlight: sampleValue(r.body, 'sluice_activator_in_flight_requests', l), queued: sampleValue(r.body, 'sluice_activator_queued_requests', l) }
}

/** An activator (CC 10 per endpoint) with revision default/faults on `endpoints`, answering through ROUTING. */
export async function startActivatorFor (ctx: FaultContext, name: string, endpoints: readonly string[], extra: readonly string[] = [], cc = 10, nodeArgs: readonly string[] = []): Promise<RunningActivator> {
  const a = await startActivator(ctx.group, ctx.dir, name, { nodeArgs, extraArgs: extra })
  const put = await httpCall('PUT', a.adminPort, `/revisions/${NAMESPACE}/${REVISION}`, JSON.stringify({ containerConcurrency: cc, endpoints }))
  if (put.status !== 200) throw new Error(`faults: PUT revision answered ${put.status}: ${put.body}`)
  await waitForOk(a.port, a.child, ROUTING)
  const labels = `namespace="${NAMESPACE}",revision="${REVISION}",state="ready"`
  const deadline = performance.now() + ENDPOINTS_WAIT_MS
  for (;;) {
    const page = await httpCall('GET', a.metricsPort, '/metrics', null)
    if (sampleValue(page.body, 'sluice_activator_endpoints', labels) === endpoints.length) break
    if (performance.now() > deadline) throw new Error('faults: the activator did not report its endpoints ready')
    await sleep(200)
  }
  return a
}

export interface Stack {
  readonly app: App
  readonly sidecar: Sidecar
  readonly activator: RunningActivator | null
  readonly front: Front
  readonly commands: readonly string[]
}

/**
 * app -> sidecar (kind 'sidecar'), or app -> sidecar -> activator (kind 'activator'; the activator's
 * endpoint is the sidecar, which answers its probes). The front is what clients talk to.
 */
export async function startStack (ctx: FaultContext, kind: TargetKind, opts: { sidecarArgs?: readonly string[], activatorArgs?: readonly string[], cc?: number, frontNodeArgs?: readonly string[] } = {}): Promise<Stack> {
  const cc = opts.cc ?? 10
  const app = await startApp(ctx)
  const sidecar = await startSidecar(ctx, `sidecar-${kind}`, app.port, [...(cc === 10 ? [] : ['--container-concurrency', String(cc)]), ...(opts.sidecarArgs ?? [])], kind === 'sidecar' ? opts.frontNodeArgs ?? [] : [])
  const commands = [app.command, sidecar.command]
  if (kind === 'sidecar') {
    const front: Front = {
      kind, port: sidecar.port, pid: sidecar.child.pid, child: sidecar.child, headers: {}, headerLines: [],
      gauges: async () => await sidecarGauges(sidecar.metricsPort),
    }
    return { app, sidecar, activator: null, front, commands }
  }
  const activator = await startActivatorFor(ctx, 'activator', [`${HOST}:${sidecar.port}`], opts.activatorArgs ?? [], cc, opts.frontNodeArgs ?? [])
  commands.push(activator.command, `PUT http://127.0.0.1:<admin>/revisions/${NAMESPACE}/${REVISION} {"containerConcurrency":${cc},"endpoints":["127.0.0.1:<sidecar>"]}`)
  const front: Front = {
    kind, port: activator.port, pid: activator.child.pid, child: activator.child, headers: ROUTING, headerLines: ROUTING_LINES,
    gauges: async () => await activatorGauges(activator.metricsPort),
  }
  return { app, sidecar, activator, front, commands }
}

export async function stopStack (ctx: FaultContext, stack: Stack): Promise<void> {
  if (stack.activator !== null) await ctx.group.stop(stack.activator.child)
  await ctx.group.stop(stack.sidecar.child)
  await ctx.group.stop(stack.app.child)
}

/** Polls `read` until `ok` or `timeoutMs`; returns the last value and when it became ok (ms, or null). */
export async function pollUntil<T> (read: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 250): Promise<{ value: T, afterMs: number | null }> {
  const t0 = performance.now()
  for (;;) {
    const value = await read()
    if (ok(value)) return { value, afterMs: performance.now() - t0 }
    if (performance.now() - t0 > timeoutMs) return { value, afterMs: null }
    await sleep(everyMs)
  }
}

/**
 * The V8 heap of a Sluice process after a full GC, read over the inspector protocol: SIGUSR1 opens
 * Node's inspector on the `--inspect-port` the process was started with (nothing listens before), then
 * HeapProfiler.collectGarbage and Runtime.getHeapUsage. This separates a leak (live objects that stay)
 * from a heap V8 grew under load and keeps (RSS that stays while the live heap is back down).
 */
export class HeapReader {
  readonly #inspector: InspectorClient

  constructor (pid: number, inspectPort: number) {
    this.#inspector = new InspectorClient(pid, inspectPort)
  }

  /** Live heap (MB) after two full GCs. */
  async usedAfterGcMb (): Promise<number> {
    await this.#inspector.call('HeapProfiler.collectGarbage')
    await this.#inspector.call('HeapProfiler.collectGarbage')
    const usage = await this.#inspector.call('Runtime.getHeapUsage')
    return Number(usage.usedSize) / 2 ** 20
  }

  close (): void { this.#inspector.close() }
}

/**
 * A DevTools-protocol client for a process started with --inspect-port: SIGUSR1 opens its inspector
 * (no --inspect at start, so the process under test runs as it would), then calls over its websocket.
 */
export class InspectorClient {
  readonly pid: number
  readonly port: number
  #ws: WebSocket | null = null
  #id = 0

  constructor (pid: number, inspectPort: number) {
    this.pid = pid
    this.port = inspectPort
  }

  async #connect (): Promise<WebSocket> {
    if (this.#ws !== null) return this.#ws
    process.kill(this.pid, 'SIGUSR1')
    let url: string | null = null
    for (let i = 0; i < 50 && url === null; i++) {
      const r = await httpCall('GET', this.port, '/json/list', null)
      if (r.status === 200) url = (JSON.parse(r.body) as Array<{ webSocketDebuggerUrl?: string }>)[0]?.webSocketDebuggerUrl ?? null
      if (url === null) await sleep(100)
    }
    if (url === null) throw new Error(`faults: no inspector on port ${this.port}`)
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
    this.#ws = ws
    return ws
  }

  async call (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const ws = await this.#connect()
    const id = ++this.#id
    return await new Promise((resolve, reject) => {
      const onMessage = (data: Buffer): void => {
        const msg = JSON.parse(data.toString('utf8')) as { id?: number, result?: Record<string, unknown>, error?: unknown }
        if (msg.id !== id) return
        ws.off('message', onMessage)
        if (msg.error !== undefined) reject(new Error(`faults: ${method}: ${JSON.stringify(msg.error)}`)); else resolve(msg.result ?? {})
      }
      ws.on('message', onMessage)
      ws.send(JSON.stringify({ id, method, params }))
    })
  }

  /** Runtime.evaluate, returning the value. */
  async evaluate (expression: string): Promise<unknown> {
    const r = await this.call('Runtime.evaluate', { expression, returnByValue: true })
    if (r.exceptionDetails !== undefined) throw new Error(`faults: evaluate: ${JSON.stringify(r.exceptionDetails)}`)
    return (r.result as { value?: unknown } | undefined)?.value
  }

  close (): void {
    this.#ws?.close()
    this.#ws = null
  }
}

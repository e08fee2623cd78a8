// `sluice up` runs the activator as a child process (`sluice activator`), in its own process
// group tracked by the reaper, talking to the in-process autoscaler over the real websocket and
// admin API: the same wiring as on Kubernetes, on loopback.

import { spawn, type ChildProcess } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { ProcessReaper } from '../local/process-reaper.ts'

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))

export interface ActivatorChildOptions {
  readonly host: string
  readonly port: number
  readonly adminPort: number
  readonly metricsPort: number
  /** The revisions API's bearer token file (--admin-token-file) and its token (for waitReady). */
  readonly adminTokenFile: string
  readonly adminToken: string
  /** ws://… of the autoscaler's stat server. */
  readonly autoscalerUrl: string
  readonly statsProtocol: 'knative' | 'json'
  /** Revisions the activator knows before its ports open (--source api --revisions); '' = none. */
  readonly revisionsFile: string
  /** NAMESPACE/NAME for requests that match no revision (single-app `up`); '' = none. */
  readonly defaultRevision: string
  readonly logLevel: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly reaper: ProcessReaper
}

/** The admin port stays on loopback whatever `up --host` says: the revisions API is for `up` alone. */
const ADMIN_HOST = '127.0.0.1'

function getStatus (host: string, port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, agent: false, timeout: 1_000, headers: { authorization: `Bearer ${token}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('timeout', () => { req.destroy() })
    req.on('error', () => { resolve(0) })
    req.end()
  })
}

export class ActivatorChild {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly #o: ActivatorChildOptions
  #hasExited: boolean

  constructor (options: ActivatorChildOptions) {
    this.#o = options
    this.#hasExited = false
    this.child = spawn(process.execPath, [
      SLUICE_BIN, 'activator',
      '--host', options.host,
      '--port', String(options.port),
      // Clients reach every protocol on --port; Knative's second port would only take 8013 from the machine.
      '--h2c-port', '0',
      '--admin-port', String(options.adminPort),
      '--admin-host', ADMIN_HOST,
      '--admin-token-file', options.adminTokenFile,
      '--metrics-port', String(options.metricsPort),
      '--autoscaler', options.autoscalerUrl,
      '--stats-protocol', options.statsProtocol,
      ...(options.defaultRevision !== '' ? ['--default-revision', options.defaultRevision] : []),
      '--source', 'api',
      ...(options.revisionsFile !== '' ? ['--revisions', options.revisionsFile] : []),
      '--drain-seconds', '0',
      '--log-level', options.logLevel,
    ], { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env: { ...options.env, POD_NAME: 'activator' } })
    const pid = this.child.pid
    if (pid !== undefined) options.reaper.track(pid)
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#hasExited) return
        this.#hasExited = true
        if (pid !== undefined) options.reaper.untrack(pid)
        resolve({ code, signal })
      }
      this.child.on('exit', done)
      this.child.on('error', () => { done(null, null) })
    })
  }

  get pid (): number | undefined { return this.child.pid }
  get hasExited (): boolean { return this.#hasExited }

  /** Resolves once the admin API answers; rejects if the activator exits or takes too long. */
  async waitReady (timeoutMs = 20_000): Promise<void> {
    const end = performance.now() + timeoutMs
    for (;;) {
      if (this.#hasExited) throw new Error(`the activator exited during start (is --port ${this.#o.port} free?)`)
      if (await getStatus(ADMIN_HOST, this.#o.adminPort, '/revisions', this.#o.adminToken) === 200) return
      if (performance.now() > end) throw new Error(`the activator's admin API did not answer within ${timeoutMs / 1000} s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop (graceMs = 5_000): Promise<void> {
    const pid = this.child.pid
    if (this.#hasExited || pid === undefined) return
    try { process.kill(-pid, 'SIGTERM') } catch { return }
    const kill = setTimeout(() => { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }, graceMs)
    await this.exited
    clearTimeout(kill)
  }
}

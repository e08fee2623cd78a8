// Every process the load test starts is spawned through a ChildGroup, each in its own process group
// (detached), so one kill reaches a child and whatever it forked (nginx's worker, a shell's grandchild).
// The group is killed on normal exit, on errors and on Ctrl-C / SIGTERM: a benchmark must never leave a
// proxy listening after it stops. Detached children do not get the terminal's SIGINT themselves, which is
// why the handlers below forward it.

import { spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { createWriteStream } from 'node:fs'

const KILL_GRACE_MS = 2_000

/** Collects a captured child's stdout and stderr as text. */
export function collectOutput (child: StartedChild): { stdout: () => string, stderr: () => string } {
  let out = ''
  let err = ''
  child.process.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.process.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s })
  return { stdout: () => out, stderr: () => err }
}

export interface StartedChild {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
}

export class ChildGroup {
  readonly #children = new Set<StartedChild>()
  #handlersInstalled = false

  /**
   * Spawns `file args` in its own process group. stdout and stderr go to `logPath` when given; with
   * `capture` the caller reads `process.stdout`/`stderr` itself; otherwise they are discarded.
   */
  start (name: string, file: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv, logPath?: string, cwd?: string, capture?: boolean } = {}): StartedChild {
    this.#installHandlers()
    const spawnOpts: SpawnOptions = { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env }
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd
    const child = spawn(file, args, spawnOpts)
    const pid = child.pid
    if (pid === undefined) throw new Error(`loadtest: cannot start ${name} (${file})`)
    if (opts.logPath !== undefined) {
      const log = createWriteStream(opts.logPath)
      child.stdout?.pipe(log)
      child.stderr?.pipe(log)
    } else if (opts.capture !== true) {
      child.stdout?.resume()
      child.stderr?.resume()
    }
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => { resolve(code) })
      child.once('error', () => { resolve(null) })
    })
    const started: StartedChild = { name, pid, process: child, exited }
    this.#children.add(started)
    exited.then(() => { this.#children.delete(started) }, () => {})
    return started
  }

  /** SIGTERM to the child's process group, SIGKILL after a grace period; resolves once it exited. */
  async stop (child: StartedChild, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.#children.has(child)) return
    killGroup(child.pid, signal)
    const timer = setTimeout(() => { killGroup(child.pid, 'SIGKILL') }, KILL_GRACE_MS)
    await child.exited
    clearTimeout(timer)
    // Whatever the leader left behind in its group (an orphaned worker) goes too.
    killGroup(child.pid, 'SIGKILL')
  }

  async stopAll (): Promise<void> {
    await Promise.all([...this.#children].map(async (c) => { await this.stop(c) }))
  }

  /** Synchronous last resort for process exit: SIGKILL every group still alive. */
  killAllNow (): void {
    for (const c of this.#children) killGroup(c.pid, 'SIGKILL')
    this.#children.clear()
  }

  #installHandlers (): void {
    if (this.#handlersInstalled) return
    this.#handlersInstalled = true
    process.once('exit', () => { this.killAllNow() })
    const onSignal = (signal: NodeJS.Signals): void => {
      process.stderr.write(`\nloadtest: ${signal}, stopping children\n`)
      this.killAllNow()
      process.exit(130)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    process.once('SIGHUP', onSignal)
  }
}

function killGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is already gone.
  }
}

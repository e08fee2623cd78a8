// Makes sure no pod outlives the autoscaler. Pods run in their own process groups (so they can be
// stopped as a unit, children of the user's command included). Two safety nets:
// - in process: on 'exit' (normal return, uncaught exception, process.exit) every tracked group
//   gets SIGKILL, synchronously, since nothing asynchronous runs in an 'exit' handler;
// - out of process: a tiny detached reaper (reaper-main.ts) holds the list of groups on its stdin
//   and kills them when that pipe closes, which also covers a SIGKILL of the autoscaler.
// A graceful stop untracks a group once it has exited, so neither net fires for it.

import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// Same extension as this module: .ts from source, .js from the build.
const REAPER_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './reaper-main.ts' : './reaper-main.js', import.meta.url))

export interface ProcessReaperOptions {
  /** Start the out-of-process reaper too (default true). */
  readonly outOfProcess?: boolean
  /** Reaper's SIGTERM-to-SIGKILL grace, ms (default 3000). */
  readonly graceMs?: number
}

export class ProcessReaper {
  readonly #groups: Set<number>
  readonly #reaper: ChildProcess | null
  readonly #onExit: () => void
  #closed: boolean

  constructor (options: ProcessReaperOptions = {}) {
    this.#groups = new Set()
    this.#closed = false
    this.#onExit = () => { this.killAllSync() }
    process.on('exit', this.#onExit)
    if (options.outOfProcess ?? true) {
      const child = spawn(process.execPath, [REAPER_SCRIPT, String(options.graceMs ?? 3000)], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      })
      child.on('error', () => { /* the in-process net still works */ })
      child.stdin?.on('error', () => { /* reaper gone: EPIPE */ })
      child.unref()
      this.#reaper = child
    } else {
      this.#reaper = null
    }
  }

  /** The reaper's pid (tests check it exits), or null. */
  get reaperPid (): number | null { return this.#reaper?.pid ?? null }

  /** Tracked process groups. */
  get groups (): ReadonlySet<number> { return this.#groups }

  track (pgid: number): void {
    if (this.#closed) return
    this.#groups.add(pgid)
    this.#write(`+${pgid}\n`)
  }

  untrack (pgid: number): void {
    if (!this.#groups.delete(pgid)) return
    this.#write(`-${pgid}\n`)
  }

  /** SIGKILL every tracked group now. */
  killAllSync (): void {
    for (const pgid of this.#groups) {
      try { process.kill(-pgid, 'SIGKILL') } catch { /* gone */ }
    }
  }

  /**
   * Stops watching: call it after stopping the pods gracefully. Any group still tracked is killed
   * now (SIGKILL); the reaper process sees its stdin close and exits.
   */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    process.off('exit', this.#onExit)
    if (this.#groups.size > 0) this.killAllSync()
    this.#reaper?.stdin?.end()
  }

  #write (line: string): void {
    const stdin = this.#reaper?.stdin
    if (stdin === null || stdin === undefined || stdin.destroyed) return
    stdin.write(line)
  }
}

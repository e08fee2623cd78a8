// Spawn-to-ready of a sidecar, timed as a kubelet and a first user see it: from just before spawn()
// until a kubelet readiness probe (GET / with `User-Agent: kube-probe/1.31` and `K-Network-Probe: queue`,
// what the kubelet sends Knative's queue-proxy) has been answered 200 and then a user request (GET /)
// through it has been answered 200. Each attempt is a fresh connection; a refused connect or a 503
// (the sidecar's own probe of the app has not passed yet) is retried after POLL_MS. Raw sockets, not
// node:http, so the bench's own client costs microseconds per attempt and adds no agent state.

import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import type { ChildGroup, StartedChild } from './child-group.ts'
import { HOST } from './targets.ts'

const POLL_MS = 1
const ATTEMPT_TIMEOUT_MS = 2_000
const READY_TIMEOUT_MS = 15_000

const KUBELET_PROBE = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: kube-probe/1.31\r\nK-Network-Probe: queue\r\nAccept: */*\r\nConnection: close\r\n\r\n`)
const USER_REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nUser-Agent: cold-bench\r\nConnection: close\r\n\r\n`)

/** Status of one request on a new connection; 0 when the connect was refused, reset or timed out. */
function statusOf (port: number, request: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port, noDelay: true })
    let head = ''
    const done = (status: number): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(status)
    }
    const timer = setTimeout(() => { done(0) }, ATTEMPT_TIMEOUT_MS)
    socket.on('connect', () => { socket.write(request) })
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      const eol = head.indexOf('\r\n')
      if (eol < 0) return
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, eol))
      done(m?.[1] === undefined ? 0 : Number(m[1]))
    })
    socket.on('error', () => { done(0) })
    socket.on('close', () => { done(0) })
  })
}

async function untilOk (port: number, request: Buffer, child: StartedChild, exited: () => boolean, deadline: number): Promise<void> {
  for (;;) {
    if (await statusOf(port, request) === 200) return
    if (exited()) throw new Error(`loadtest: ${child.name} exited before it was ready (see its log)`)
    if (performance.now() > deadline) throw new Error(`loadtest: ${child.name} not ready on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

export interface SpawnedReady {
  child: StartedChild
  /** spawn() -> the kubelet probe answered 200, ms. */
  probeOkMs: number
  /** spawn() -> the kubelet probe and then a user request answered 200, ms: the figure. */
  readyMs: number
}

/** Spawns `file args` in `group` and waits until `port` passes a kubelet probe, then a user request. */
export async function spawnUntilReady (group: ChildGroup, name: string, file: string, args: readonly string[], port: number, opts: { env?: NodeJS.ProcessEnv, cwd?: string, logPath?: string }): Promise<SpawnedReady> {
  const t0 = performance.now()
  const child = group.start(name, file, args, opts)
  let hasExited = false
  void child.exited.then(() => { hasExited = true })
  const deadline = t0 + READY_TIMEOUT_MS
  await untilOk(port, KUBELET_PROBE, child, () => hasExited, deadline)
  const probeOkMs = performance.now() - t0
  await untilOk(port, USER_REQUEST, child, () => hasExited, deadline)
  return { child, probeOkMs, readyMs: performance.now() - t0 }
}

/**
 * VmRSS, VmHWM and RssAnon of one process, MiB (0 when it is gone). RssAnon is the process's own
 * memory; the rest of VmRSS is mostly the node binary's pages, shared by every Node process on the
 * host and counted by how many of them this process mapped, which the kernel's fault-around makes
 * depend on what is in the page cache (the same sidecar reads 56.8 or 62.3 MB in two setups).
 */
export function rssMb (pid: number): { rssMb: number, hwmMb: number, anonMb: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, anonMb: kb('RssAnon') / 1024 }
  } catch {
    return { rssMb: 0, hwmMb: 0, anonMb: 0 }
  }
}

// End to end: `sluice up` as a real process (activator child, in-process autoscaler, local pods),
// short windows, real HTTP load. Bounded: about 30 s on 2 cores.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pickFreePorts } from '../../src/local/free-port.ts'
import type { StatusDocument } from '../../src/autoscaler/status-server.ts'

const BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
// Target 5 in flight per pod (containerConcurrency 5 at 100 %): 20 concurrent clients -> 4 pods.
const CONFIG = `
autoscaler:
  stable-window: 6s
  scale-to-zero-grace-period: 2s
  container-concurrency-target-percentage: 100
  max-scale-down-rate: 100
apps:
  - name: hello
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sample-app, --host, 127.0.0.1]
    containerConcurrency: 5
    maxScale: 8
`
// Pod starts are slower while the rest of the suite runs in parallel on 2 cores.
t.setTimeout(110_000)

const CLIENTS = 20
const LOAD_MS = 5_000

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/** Direct children of `pid` (from /proc), so we can check them after `up` is gone. */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) out.push(Number(entry))
    } catch { /* exited meanwhile */ }
  }
  return out
}

function get (port: number, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 30_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
    req.end()
  })
}

interface RunningUp {
  up: ChildProcess
  /** stdout and stderr so far. */
  output (): string
  exited: Promise<number | null>
  pid: number
  /** Every child process seen, for the no-process-left check; all are killed in teardown. */
  seen: Set<number>
  /** Stops adding to `seen` (once `up` exited). */
  stopWatching (): void
}

/** Spawns `sluice up` with `args`; it and every child it had are killed in teardown. */
function spawnUp (t: { teardown (fn: () => unknown): void }, args: string[]): RunningUp {
  const up: ChildProcess = spawn(process.execPath, [BIN, 'up', ...args, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  up.stdout?.on('data', (d: Buffer) => { output += d.toString() })
  up.stderr?.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => { up.on('exit', (code) => { resolve(code) }) })
  const pid = up.pid ?? -1
  const seen = new Set<number>()
  const watch = setInterval(() => { for (const child of childrenOf(pid)) seen.add(child) }, 100)
  t.teardown(() => {
    clearInterval(watch)
    if (alive(pid)) up.kill('SIGKILL')
    for (const child of seen) { try { process.kill(-child, 'SIGKILL') } catch { /* gone */ } }
  })
  return { up, output: () => output, exited, pid, seen, stopWatching: () => { clearInterval(watch) } }
}

async function status (port: number): Promise<StatusDocument> {
  return JSON.parse((await get(port, '/status?history=0')).body) as StatusDocument
}

t.test('sluice up: from zero, 20 concurrent 200 ms requests all succeed, pods follow the KPA, back to zero, no process left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-up-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const configPath = join(dir, 'apps.yaml')
  writeFileSync(configPath, CONFIG)
  const [port, statusPort] = await pickFreePorts(2)

  const run = spawnUp(t, ['--port', String(port), '--status-port', String(statusPort), '--config', configPath])
  const { up, exited: upExited, seen } = run

  const startDeadline = performance.now() + 20_000
  while (!run.output().includes('sluice up:')) {
    if (performance.now() > startDeadline || up.exitCode !== null) throw new Error('up did not start:\n' + run.output())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.match(run.output(), new RegExp(`traffic\\s+http://127\\.0\\.0\\.1:${port}`), 'prints the traffic URL')
  t.match(run.output(), new RegExp(`status\\s+http://127\\.0\\.0\\.1:${statusPort}`), 'prints the status URL')
  let s = await status(statusPort)
  t.equal(s.revisions[0].readyPods, 0, 'starts at zero')

  // Load: 20 clients, each sending 200 ms requests back to back for LOAD_MS.
  let maxDesired = 0
  let maxReady = 0
  let panicSeen = false
  const poll = setInterval(() => {
    status(statusPort).then((d) => {
      const r = d.revisions[0]
      maxDesired = Math.max(maxDesired, r.desiredPods)
      maxReady = Math.max(maxReady, r.readyPods)
      panicSeen ||= r.panicMode
    }, () => {})
  }, 200)
  t.teardown(() => { clearInterval(poll) })
  const loadEnd = performance.now() + LOAD_MS
  const codes = new Map<number, number>()
  let failures = 0
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < loadEnd) {
      try {
        const r = await get(port, '/?sleep=200')
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1)
      } catch { failures++ }
    }
  }))
  const total = [...codes.values()].reduce((a, b) => a + b, 0)
  // What `up` said, when the load did not go through (it ended, or answered errors): the cause is there.
  if (failures > 0 || codes.size !== 1) t.comment(`sluice up (exit ${String(up.exitCode)}, signal ${String(up.signalCode)}):\n${run.output()}`)
  t.same([...codes.keys()], [200], `all ${total} requests answered 200`)
  t.equal(failures, 0, 'no connection failures')
  t.ok(total >= CLIENTS, `${total} requests`)

  // The KPA's answer for a steady 20 in flight at target 5 per pod is 4 (the first seconds, with
  // requests queued in the activator while pods start, may briefly ask for a little more).
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  // Whether panic shows depends on how fast pods start relative to the 2 s ticks: not asserted.
  t.comment(`panic mode seen during the burst: ${String(panicSeen)}`)
  t.ok(maxDesired >= 3 && maxDesired <= 5, `desired pods peaked at ${maxDesired} (KPA: 4)`)
  t.ok(maxReady >= maxDesired - 1, `ready pods reached ${maxReady} (desired ${maxDesired})`)

  // Idle: back to zero after the stable window, panic end and grace (bounded).
  const zeroDeadline = performance.now() + 30_000
  const idleStart = performance.now()
  for (;;) {
    s = await status(statusPort)
    const r = s.revisions[0]
    if (r.readyPods === 0 && r.desiredPods === 0 && r.pendingPods === 0 && r.terminatingPods === 0) break
    if (performance.now() > zeroDeadline) throw new Error('not back to zero: ' + JSON.stringify(r))
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.pass(`back to zero ${Math.round((performance.now() - idleStart) / 1000)} s after the load`)
  t.equal(s.revisions[0].activeState, 'inactive')

  // Ctrl-C: everything stops.
  up.kill('SIGINT')
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([upExited, new Promise<string>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, 15_000) })])
  clearTimeout(timer)
  t.equal(code, 0, 'up exits 0 on SIGINT')
  run.stopWatching()
  t.ok(seen.size >= 2 + 2 * 3, `watched ${seen.size} child processes (activator, reaper, pods)`)
  const deadline = performance.now() + 5_000
  while ([...seen].some(alive) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  const left = [...seen].filter(alive)
  t.same(left, [], 'no child process left')
})

t.test('sluice up: a request sent the moment the traffic port opens gets 200, not 404; /status shows the cold start phase by phase', async (t) => {
  const [port, statusPort] = await pickFreePorts(2)
  const run = spawnUp(t, ['--port', String(port), '--status-port', String(statusPort)])
  const { up, exited: upExited } = run

  // Knock until the port accepts: the first request that connects is the one that counts.
  const deadline = performance.now() + 30_000
  let first: { status: number, body: string } | null = null
  while (first === null) {
    if (performance.now() > deadline || up.exitCode !== null) throw new Error('the traffic port never opened:\n' + run.output())
    try { first = await get(port, '/') } catch { await new Promise((resolve) => setTimeout(resolve, 2)) }
  }
  t.equal(first.status, 200, 'the revision was known before the port opened')
  t.match(first.body, /^Hello from hello-\d+ \(revision hello\)/)

  // The breakdown shows once the activator's metrics and up's poll have caught up (about 2 s).
  let cold: StatusDocument['revisions'][number]['coldStart'] = null
  while (cold === null || cold.totalMs === null) {
    if (performance.now() > deadline) throw new Error('no cold-start breakdown: ' + JSON.stringify(cold))
    await new Promise((resolve) => setTimeout(resolve, 200))
    cold = (await status(statusPort)).revisions[0]?.coldStart ?? null
  }
  t.equal(cold.origin, 'request', 'timed from the request\'s arrival at the activator')
  t.match(cold.pod, /^hello-\d+$/)
  t.same(cold.phases.map((p) => p.name), ['spawn', 'appListening', 'sidecarReady', 'activatorProbeOk', 'firstByte'], 'every phase, in order')
  const at = cold.phases.map((p) => p.atMs)
  t.ok(at.every((ms) => typeof ms === 'number' && ms >= 0), `all seen: ${JSON.stringify(at)}`)
  t.ok(at.every((ms, i) => i === 0 || (ms ?? -1) >= (at[i - 1] ?? Infinity)), 'each phase at or after the one before')
  t.equal(cold.totalMs, at[at.length - 1], 'the total is the first byte')

  up.kill('SIGINT')
  t.equal(await upExited, 0, 'up exits 0 on SIGINT')
})

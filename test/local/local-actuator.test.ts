import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ActivatorAdmin, ActivatorRevision } from '../../src/autoscaler/activator-admin-client.ts'
import { LocalActuator, SAMPLE_APP_COMMAND, type LocalActuatorOptions } from '../../src/local/local-actuator.ts'
import { ProcessReaper } from '../../src/local/process-reaper.ts'
import { realClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { realTimers } from '../../src/shared/timers.ts'

const REV = { namespace: 'default', name: 'hello' }

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function until (what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function get (address: string, path = '/'): Promise<{ status: number, body: string }> {
  const [host, port] = address.split(':')
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** Records PUTs, with which pod pids were alive at the time. */
class RecordingAdmin implements ActivatorAdmin {
  readonly puts: Array<{ endpoints: readonly string[], notReady: readonly string[], at: number }> = []
  deleted = 0
  onPut: ((r: ActivatorRevision) => void) | null = null
  async putRevision (r: ActivatorRevision): Promise<void> {
    this.puts.push({ endpoints: r.endpoints, notReady: r.notReadyEndpoints ?? [], at: performance.now() })
    this.onPut?.(r)
  }

  async deleteRevision (): Promise<void> { this.deleted++ }
  last (): readonly string[] { return this.puts[this.puts.length - 1]?.endpoints ?? [] }
}

/** A LocalActuator on real time and a quiet logger, reporting to `admin`. */
function actuator (admin: RecordingAdmin, extra: Pick<LocalActuatorOptions, 'reaper'> & Partial<LocalActuatorOptions>): LocalActuator {
  return new LocalActuator({ activator: admin, baseEnv: { PATH: process.env.PATH }, clock: realClock, timers: realTimers, logger: silentLogger(), ...extra })
}

t.test('runs sidecar + app pairs, registers endpoints, deregisters before stopping, replaces crashed pods, leaves nothing behind', async (t) => {
  const admin = new RecordingAdmin()
  const reaper = new ProcessReaper({ graceMs: 500 })
  const act = actuator(admin, { reaper, drainSeconds: 0.1 })
  const seen = new Set<number>()
  t.teardown(async () => { await act.close(); reaper.close() })
  const changes: string[] = []
  act.watch((k) => { changes.push(k) })

  await act.addRevision({ ...REV, containerConcurrency: 1, command: [...SAMPLE_APP_COMMAND], hosts: ['hello.local'] })
  t.same(admin.last(), [], 'registered with no endpoints')

  act.setScale(REV, 2)
  t.equal(act.requestedScale(REV), 2)
  t.equal(act.podCounts(REV).pending, 2)
  await until('2 ready pods', () => act.readyPods(REV).length === 2, 15_000)
  for (const pid of act.allPids()) seen.add(pid)
  t.equal(act.allPids().length, 4, 'two processes per pod')
  t.equal(admin.last().length, 2, 'activator has both endpoints')
  const pods = act.readyPods(REV)
  const reply = await get(pods[0].servingAddress, '/?sleep=10')
  t.equal(reply.status, 200)
  t.match(reply.body, /^Hello from hello-000\d \(revision hello\)/)
  t.ok(changes.length > 0, 'watchers told')

  // Scale down: the PUT without the victim happens while its processes still run.
  const victim = act.pods(REV).sort((a, b) => a.ageMs - b.ageMs)[0]
  let aliveAtPut: boolean | null = null
  admin.onPut = (r) => { if (!r.endpoints.includes(victim.servingAddress)) aliveAtPut ??= victim.pids.every(alive) }
  act.setScale(REV, 1)
  await until('victim stopped', () => victim.pids.every((p) => !alive(p)))
  t.equal(aliveAtPut, true, 'deregistered before SIGTERM')
  t.equal(act.readyPods(REV).length, 1)
  t.equal(admin.last().length, 1)

  // Crash: the app of the last pod dies; the pod is replaced.
  const before = act.pods(REV)[0]
  process.kill(before.pids[0], 'SIGKILL')
  await until('replacement ready', () => act.readyPods(REV).length === 1 && act.readyPods(REV)[0].name !== before.name, 15_000)
  t.ok(before.pids.every((p) => !alive(p)), 'the crashed pod\'s sidecar was stopped too')
  for (const pid of act.allPids()) seen.add(pid)
  t.equal(act.counters.crashes, 1)

  await act.close()
  t.same(act.allPids(), [])
  for (const pid of seen) t.notOk(alive(pid), `pid ${pid} gone`)
  t.equal(reaper.groups.size, 0, 'reaper has nothing left to kill')
})

t.test('a pod whose app cannot start fails with its output, and is retried with backoff', async (t) => {
  const admin = new RecordingAdmin()
  const act = actuator(admin, { reaper: null, readyTimeoutMs: 5_000 })
  t.teardown(() => act.close())
  await act.addRevision({ ...REV, containerConcurrency: 1, command: [process.execPath, '-e', 'console.error("boom: bad config"); process.exit(3)'] })
  act.setScale(REV, 1)
  await until('two failed starts', () => act.counters.startFailures >= 2, 10_000)
  t.equal(act.readyPods(REV).length, 0)
  t.ok(act.counters.podsStarted >= 2, 'retried')
})

t.test('the reaper kills tracked process groups when its parent is SIGKILLed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-reaper-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const reaperModule = fileURLToPath(new URL('../../src/local/process-reaper.ts', import.meta.url))
  const script = join(dir, 'parent.ts')
  writeFileSync(script, `
import { spawn } from 'node:child_process'
import { ProcessReaper } from ${JSON.stringify(reaperModule)}
const reaper = new ProcessReaper({ graceMs: 200 })
const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' })
reaper.track(child.pid)
process.stdout.write(String(child.pid) + ' ' + String(reaper.reaperPid) + '\\n')
setInterval(() => {}, 1000)
`)
  const parent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    parent.stdout.once('data', (d: Buffer) => { resolve(d.toString()) })
    parent.once('exit', () => { reject(new Error('parent exited early')) })
  })
  const [sleepPid, reaperPid] = line.trim().split(' ').map(Number)
  t.ok(alive(sleepPid), 'tracked child running')
  parent.kill('SIGKILL')
  await until('tracked child killed', () => !alive(sleepPid), 5000)
  await until('reaper exited', () => !alive(reaperPid), 5000)
  t.pass('no orphan after SIGKILL of the parent')
})

t.test('a starting pod is listed as not ready once its app listens; a spare sidecar makes the next pod start only its app', async (t) => {
  const admin = new RecordingAdmin()
  const reaper = new ProcessReaper({ graceMs: 500 })
  const act = actuator(admin, { reaper, drainSeconds: 0.1, spareSidecars: true })
  t.teardown(async () => { await act.close(); reaper.close() })
  await act.addRevision({ ...REV, containerConcurrency: 1, command: [...SAMPLE_APP_COMMAND] })
  await until('the spare sidecar running', () => act.allPids().length === 1)
  t.equal(act.podCounts(REV).pending + act.podCounts(REV).ready, 0, 'a spare is not a pod')
  const spareSidecar = act.allPids()[0]

  act.setScale(REV, 1)
  await until('1 ready pod', () => act.readyPods(REV).length === 1, 15_000)
  const pod = act.readyPods(REV)[0]
  const address = act.pods(REV)[0].servingAddress
  t.ok(act.pods(REV)[0].pids.includes(spareSidecar), 'the pod runs the spare\'s sidecar')
  t.equal(act.coldStart(REV)?.times.sidecarPrestarted, true)
  const listed = admin.puts.findIndex((p) => p.notReady.includes(address))
  const ready = admin.puts.findIndex((p) => p.endpoints.includes(address))
  t.ok(listed !== -1 && listed < ready, 'listed as not ready (for the activator to probe) before as ready')
  t.notOk(admin.puts[ready]?.notReady.includes(address), 'never in both lists')
  t.equal((await get(pod.servingAddress)).status, 200)
  await until('a new spare', () => act.allPids().length === 3)

  await act.close()
  t.same(act.allPids(), [], 'the spare is stopped too')
  t.equal(reaper.groups.size, 0)
})

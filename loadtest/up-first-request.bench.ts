// `sluice up`'s first request from zero, phase by phase (issue 12 item 5). On demand, never a test:
//   node loadtest/up-first-request.bench.ts [--rounds 7]
//
// One `sluice up` (the checkout form, bin/sluice, as `npm start` runs it) with the built-in sample
// app at containerConcurrency 1 and short autoscaler windows so it returns to zero in seconds. Then:
// - at start: requests sent in a loop until the traffic port accepts one; that first request's status
//   (200 since the revisions are known before the port opens; it was a 404) and its latency;
// - `--rounds` times: wait until the revision is at zero pods, send one GET /, time the response's
//   first byte at the client, and read the cold start's breakdown from GET /status (spawn, app
//   listening, sidecar ready, activator probe ok, first byte: ms after the request reached the
//   activator). Medians over the rounds.
// `--no-spare`: `up --no-spare-sidecar`, so each pod spawns its sidecar as well as its app.
// Writes loadtest/results/up-first-request-<time>.json and .md.

import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pickFreePorts } from '../src/autoscaler/free-port.ts'
import type { ColdStartBreakdown } from '../src/autoscaler/cold-start-breakdown.ts'
import type { StatusDocument } from '../src/autoscaler/status-server.ts'

const BIN = fileURLToPath(new URL('../bin/sluice', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))

const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, 'no-spare': { type: 'boolean', default: false } } })
const ROUNDS = Number(flags.rounds)
/** `up --no-spare-sidecar`: every pod spawns its sidecar too (the cost a spare saves). */
const NO_SPARE = flags['no-spare'] === true

const CONFIG = `
autoscaler:
  stable-window: 6s
  scale-to-zero-grace-period: 1s
apps:
  - name: hello
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sample-app, --host, 127.0.0.1]
    containerConcurrency: 1
`

interface Reply { status: number, firstByteMs: number }

function get (port: number, path: string, timeoutMs = 30_000): Promise<Reply & { body: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      const firstByteMs = performance.now() - start
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, firstByteMs, body }) })
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
    req.end()
  })
}

async function status (port: number): Promise<StatusDocument> {
  return JSON.parse((await get(port, '/status?history=0')).body) as StatusDocument
}

function sleep (ms: number): Promise<void> { return new Promise((resolve) => { setTimeout(resolve, ms) }) }

function median (xs: readonly number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] ?? null) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

interface Round {
  readonly clientFirstByteMs: number
  readonly status: number
  readonly breakdown: ColdStartBreakdown | null
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-up-bench-'))
  const configPath = join(dir, 'apps.yaml')
  writeFileSync(configPath, CONFIG)
  const [port, statusPort] = await pickFreePorts(2)
  if (port === undefined || statusPort === undefined) throw new Error('no ports')
  const up = spawn(process.execPath, [BIN, 'up', '--port', String(port), '--status-port', String(statusPort), '--config', configPath, '--log-level', 'warn', ...(NO_SPARE ? ['--no-spare-sidecar'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] })
  const upExited = new Promise<void>((resolve) => { up.on('exit', () => { resolve() }) })
  try {
    // The moment the port opens.
    const startedAt = performance.now()
    let atOpen: Reply | null = null
    while (atOpen === null) {
      if (performance.now() - startedAt > 30_000) throw new Error('the traffic port never opened')
      try { atOpen = await get(port, '/') } catch { await sleep(2) }
    }
    process.stdout.write(`request at port open: ${atOpen.status} in ${atOpen.firstByteMs.toFixed(0)} ms\n`)

    const rounds: Round[] = []
    for (let i = 0; i < ROUNDS; i++) {
      for (;;) {
        const r = (await status(statusPort)).revisions[0]
        if (r !== undefined && r.readyPods === 0 && r.pendingPods === 0 && r.terminatingPods === 0 && r.pods.length === 0) break
        await sleep(200)
      }
      // Quiet machine before the request: the last pod's exit and the scale-down are behind us.
      await sleep(500)
      const sentWallMs = Date.now()
      const reply = await get(port, '/')
      // The activator's metrics refresh every second and `up` polls them every second.
      let breakdown: ColdStartBreakdown | null = null
      for (let tries = 0; tries < 20; tries++) {
        await sleep(250)
        const c = (await status(statusPort)).revisions[0]?.coldStart ?? null
        if (c !== null && c.origin === 'request' && c.originWallMs >= sentWallMs - 5 && c.totalMs !== null) { breakdown = c; break }
      }
      rounds.push({ clientFirstByteMs: reply.firstByteMs, status: reply.status, breakdown })
      const phases = breakdown?.phases.map((p) => `${p.name} ${p.atMs ?? '-'}`).join(', ') ?? 'no breakdown'
      process.stdout.write(`round ${i + 1}: ${reply.status} first byte at the client ${reply.firstByteMs.toFixed(0)} ms (${phases})\n`)
    }

    const phaseNames = rounds.find((r) => r.breakdown !== null)?.breakdown?.phases.map((p) => p.name) ?? []
    const medians: Record<string, number | null> = { clientFirstByteMs: median(rounds.map((r) => r.clientFirstByteMs)) }
    for (const name of phaseNames) {
      const xs: number[] = []
      for (const r of rounds) {
        const at = r.breakdown?.phases.find((p) => p.name === name)?.atMs
        if (typeof at === 'number') xs.push(at)
      }
      medians[name] = median(xs)
    }
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? '?'}`
    const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '') + (NO_SPARE ? '-no-spare' : '')
    const command = `node loadtest/up-first-request.bench.ts --rounds ${ROUNDS}${NO_SPARE ? ' --no-spare' : ''}`
    const json = { node: process.version, machine, command, spareSidecar: !NO_SPARE, loadAverage: loadavg(), atPortOpen: atOpen, rounds, medians }
    mkdirSync(RESULTS, { recursive: true })
    writeFileSync(join(RESULTS, `up-first-request-${stamp}.json`), JSON.stringify(json, null, 2) + '\n')
    const fmt = (x: number | null | undefined): string => (typeof x === 'number' ? x.toFixed(0) : '-')
    const md = [
      `# \`sluice up\`: first request from zero (${stamp})`,
      '',
      `Node ${process.version}, ${machine}; \`${json.command}\`. Sample app (CC 1) + sidecar, checkout form (bin/sluice), ` +
        `${NO_SPARE ? 'no spare sidecar (both processes spawned per pod)' : 'spare sidecar (only the app spawned per pod)'}; ` +
        `load average at the end ${json.loadAverage.map((x) => x.toFixed(2)).join(' ')} (a shared machine).`,
      '',
      `Request sent the moment the traffic port opened: **${atOpen.status}**, ${fmt(atOpen.firstByteMs)} ms (includes \`up\`'s own start).`,
      '',
      'Phases: ms after the request reached the activator (from `GET /status` `coldStart`); client = first response byte at the client.',
      '',
      `| round | client | ${phaseNames.join(' | ')} |`,
      `|---|---|${phaseNames.map(() => '---').join('|')}|`,
      ...rounds.map((r, i) => `| ${i + 1} | ${fmt(r.clientFirstByteMs)} | ${phaseNames.map((n) => fmt(r.breakdown?.phases.find((p) => p.name === n)?.atMs)).join(' | ')} |`),
      `| **median** | **${fmt(medians.clientFirstByteMs)}** | ${phaseNames.map((n) => `**${fmt(medians[n])}**`).join(' | ')} |`,
      '',
    ].join('\n')
    writeFileSync(join(RESULTS, `up-first-request-${stamp}.md`), md)
    process.stdout.write('\n' + md)
  } finally {
    up.kill('SIGINT')
    await Promise.race([upExited, sleep(10_000)])
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()

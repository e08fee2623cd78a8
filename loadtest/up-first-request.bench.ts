// `sluice up`'s first request from zero, phase by phase (issue 12 item 5). On demand, never a test:
//   node loadtest/up-first-request.bench.ts [--rounds 7] [--variants spare,no-spare] [--before-bin PATH]
//
// Variants, each its own `sluice up` (checkout form, bin/sluice, as `npm start` runs it) with the
// built-in sample app at containerConcurrency 1 and short autoscaler windows so it returns to zero in
// seconds, all running for the whole bench:
//   spare      `up --spare-sidecar`: each revision's next sidecar runs ahead, a pod spawns only its app
//   no-spare   `up --no-spare-sidecar` (the default): each pod spawns its sidecar and its app
//   before     `--before-bin PATH`: another checkout's bin/sluice (e.g. one without this work), default flags
// Interleaved, so a busy machine (this one is shared) weighs on every variant alike: each round
// measures every variant once, in a rotating order, and before each measurement waits until every
// `up` is at zero pods and then 500 ms more. A measurement: one GET / to the variant's traffic port,
// the first response byte timed at the client, then the cold start's breakdown from its GET /status
// (spawn, app listening, sidecar ready, activator probe ok, first byte: ms after the request reached
// the activator; absent for a `before` that has none). Medians over the rounds.
// At start, each variant also gets a request the moment its traffic port opens: its status (200 once
// the revisions are known before the port opens; it was 404) and latency.
// Writes loadtest/results/up-first-request-<time>.json and .md.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pickFreePorts } from '../src/local/free-port.ts'
import type { ColdStartBreakdown } from '../src/autoscaler/cold-start-breakdown.ts'
import type { StatusDocument } from '../src/autoscaler/status-server.ts'

const BIN = fileURLToPath(new URL('../bin/sluice', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    variants: { type: 'string', default: 'spare,no-spare' },
    'before-bin': { type: 'string', default: '' },
  },
})
const ROUNDS = Number(flags.rounds)
const BEFORE_BIN = flags['before-bin'] ?? ''

function config (bin: string): string {
  return `
autoscaler:
  stable-window: 6s
  scale-to-zero-grace-period: 1s
apps:
  - name: hello
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(bin)}, sample-app, --host, 127.0.0.1]
    containerConcurrency: 1
`
}

interface VariantSpec { readonly name: string, readonly bin: string, readonly args: readonly string[] }

const KNOWN: Record<string, VariantSpec> = {
  spare: { name: 'spare', bin: BIN, args: ['--spare-sidecar'] },
  'no-spare': { name: 'no-spare', bin: BIN, args: ['--no-spare-sidecar'] },
}

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

interface Measurement {
  readonly clientFirstByteMs: number
  readonly status: number
  readonly breakdown: ColdStartBreakdown | null
}

interface Variant extends VariantSpec {
  readonly port: number
  readonly statusPort: number
  readonly up: ChildProcess
  readonly exited: Promise<void>
  atOpen: Reply | null
  readonly rounds: Measurement[]
}

async function startVariant (spec: VariantSpec, dir: string): Promise<Variant> {
  const configPath = join(dir, `${spec.name}.yaml`)
  writeFileSync(configPath, config(spec.bin))
  const [port, statusPort] = await pickFreePorts(2)
  if (port === undefined || statusPort === undefined) throw new Error('no ports')
  const up = spawn(process.execPath, [spec.bin, 'up', '--port', String(port), '--status-port', String(statusPort), '--config', configPath, '--log-level', 'warn', ...spec.args], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise<void>((resolve) => { up.on('exit', () => { resolve() }) })
  const v: Variant = { ...spec, port, statusPort, up, exited, atOpen: null, rounds: [] }
  // The moment the port opens.
  const startedAt = performance.now()
  while (v.atOpen === null) {
    if (performance.now() - startedAt > 30_000) throw new Error(`${spec.name}: the traffic port never opened`)
    try { v.atOpen = await get(port, '/') } catch { await sleep(2) }
  }
  process.stdout.write(`${spec.name}: request at port open: ${v.atOpen.status} in ${v.atOpen.firstByteMs.toFixed(0)} ms\n`)
  return v
}

async function atZero (v: Variant): Promise<boolean> {
  const r = (await status(v.statusPort)).revisions[0]
  return r !== undefined && r.readyPods === 0 && r.pendingPods === 0 && r.terminatingPods === 0 && r.pods.length === 0
}

async function measure (v: Variant, all: readonly Variant[]): Promise<Measurement> {
  for (;;) {
    const zero = await Promise.all(all.map(atZero))
    if (zero.every(Boolean)) break
    await sleep(200)
  }
  // Quiet machine before the request: the last pods' exits and scale-downs are behind us.
  await sleep(500)
  const sentWallMs = Date.now()
  const reply = await get(v.port, '/')
  // The activator's metrics refresh every second and `up` polls them every second.
  let breakdown: ColdStartBreakdown | null = null
  for (let tries = 0; tries < 12; tries++) {
    await sleep(250)
    const c = (await status(v.statusPort)).revisions[0]?.coldStart ?? null
    if (c !== null && c.origin === 'request' && c.originWallMs >= sentWallMs - 5 && c.totalMs !== null) { breakdown = c; break }
  }
  return { clientFirstByteMs: reply.firstByteMs, status: reply.status, breakdown }
}

const fmt = (x: number | null | undefined): string => (typeof x === 'number' ? x.toFixed(0) : '-')

async function main (): Promise<void> {
  const specs: VariantSpec[] = []
  for (const name of (flags.variants ?? '').split(',').filter((n) => n !== '')) {
    const spec = KNOWN[name]
    if (spec === undefined) throw new Error(`unknown variant ${name} (spare, no-spare)`)
    specs.push(spec)
  }
  if (BEFORE_BIN !== '') specs.push({ name: 'before', bin: BEFORE_BIN, args: [] })
  const dir = mkdtempSync(join(tmpdir(), 'sluice-up-bench-'))
  const variants: Variant[] = []
  try {
    for (const spec of specs) variants.push(await startVariant(spec, dir))
    for (let i = 0; i < ROUNDS; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length]
        if (v === undefined) continue
        const m = await measure(v, variants)
        v.rounds.push(m)
        const phases = m.breakdown?.phases.map((p) => `${p.name} ${p.atMs ?? '-'}`).join(', ') ?? 'no breakdown'
        process.stdout.write(`round ${i + 1} ${v.name}: ${m.status}, first byte at the client ${m.clientFirstByteMs.toFixed(0)} ms (${phases})\n`)
      }
    }
    const phaseNames = ['spawn', 'appListening', 'sidecarReady', 'activatorProbeOk', 'firstByte']
    const summary = variants.map((v) => {
      const medians: Record<string, number | null> = { clientFirstByteMs: median(v.rounds.map((r) => r.clientFirstByteMs)) }
      for (const name of phaseNames) {
        const xs: number[] = []
        for (const r of v.rounds) {
          const at = r.breakdown?.phases.find((p) => p.name === name)?.atMs
          if (typeof at === 'number') xs.push(at)
        }
        medians[name] = median(xs)
      }
      return { name: v.name, bin: v.bin, args: v.args, atPortOpen: v.atOpen, rounds: v.rounds, medians }
    })
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? '?'}`
    const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '')
    const command = `node loadtest/up-first-request.bench.ts --rounds ${ROUNDS} --variants ${flags.variants ?? ''}${BEFORE_BIN !== '' ? ` --before-bin ${BEFORE_BIN}` : ''}`
    const json = { node: process.version, machine, command, loadAverageAtEnd: loadavg(), variants: summary }
    mkdirSync(RESULTS, { recursive: true })
    writeFileSync(join(RESULTS, `up-first-request-${stamp}.json`), JSON.stringify(json, null, 2) + '\n')
    const md = [
      `# \`sluice up\`: first request from zero (${stamp})`,
      '',
      `Node ${process.version}, ${machine}; \`${command}\`. Sample app (CC 1) + sidecar, checkout form (bin/sluice); ` +
        `variants interleaved, ${ROUNDS} rounds; load average at the end ${json.loadAverageAtEnd.map((x) => x.toFixed(2)).join(' ')} (a shared machine).`,
      '',
      'Request sent the moment the traffic port opened: ' + summary.map((s) => `${s.name} **${s.atPortOpen?.status ?? '-'}** (${fmt(s.atPortOpen?.firstByteMs)} ms, includes \`up\`'s own start)`).join(', ') + '.',
      '',
      'Medians; phases in ms after the request reached the activator (`GET /status` `coldStart`); client = first response byte at the client.',
      '',
      `| variant | client | ${phaseNames.join(' | ')} |`,
      `|---|---|${phaseNames.map(() => '---').join('|')}|`,
      ...summary.map((s) => `| ${s.name} | **${fmt(s.medians.clientFirstByteMs)}** | ${phaseNames.map((n) => fmt(s.medians[n])).join(' | ')} |`),
      '',
      'Every round (client first byte, ms):',
      '',
      `| variant | ${Array.from({ length: ROUNDS }, (_, i) => String(i + 1)).join(' | ')} |`,
      `|---|${Array.from({ length: ROUNDS }, () => '---').join('|')}|`,
      ...summary.map((s) => `| ${s.name} | ${s.rounds.map((r) => fmt(r.clientFirstByteMs)).join(' | ')} |`),
      '',
    ].join('\n')
    writeFileSync(join(RESULTS, `up-first-request-${stamp}.md`), md)
    process.stdout.write('\n' + md)
  } finally {
    for (const v of variants) v.up.kill('SIGINT')
    await Promise.race([Promise.all(variants.map((v) => v.exited)), sleep(10_000)])
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()

// Which clean-up gives an idle Sluice process its memory back after the aborts scenario's load, and
// where the memory that stays lives (issue 13's RSS figure). Not a pass/fail scenario: a measurement
// for choosing the idle reclaimer's method (src/server/idle-reclaimer.ts), run on demand:
//
//   flock /tmp/sluice-bench.lock npx node loadtest/faults/reclaim-methods.ts [sidecar|activator] [--extra-arg ...]
//
// Per target: the stack of the fault suite (app -> sidecar [-> activator]) with the front process on
// --inspect-port; 5,000 warm-up requests; idle RSS; a control run and one abort run of the aborts
// scenario's mix (100,000 requests, 64 workers, 20% aborted); 5 s idle; then, cumulatively, each
// method below (the last, malloc_trim, needs gdb), reading RSS (anonymous split into the malloc heap [heap], other anonymous mappings,
// file-backed) and V8's heap statistics 2 s after each. `--sluice-arg X` passes X to the front
// process (e.g. --sluice-arg=--idle-reclaim-seconds --sluice-arg=0 to turn Sluice's own reclaimer off;
// left on, it collects during the "10 s more idle" step, which then shows its effect). Output of the runs
// that chose the method: loadtest/results/reclaim-methods-2026-12-06-*.txt.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ChildGroup } from '../harness/child-group.ts'
import { freePort, HOST } from '../harness/targets.ts'
import { runAborts } from './abort-client.ts'
import { InspectorClient, sleep, startStack, stopStack, type FaultContext, type TargetKind } from './fault-kit.ts'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'sluice-arg': { type: 'string', multiple: true }, 'node-arg': { type: 'string', multiple: true } } })
const kind: TargetKind = positionals[0] === 'activator' ? 'activator' : 'sidecar'
const sluiceArgs = values['sluice-arg'] ?? []
const nodeArgs = values['node-arg'] ?? []

interface Reading { rssMb: number, heapMb: number, anonOtherMb: number, fileMb: number, v8: Record<string, number> }

/** RSS of a process split by mapping kind, MB. */
function smaps (pid: number): { rssMb: number, heapMb: number, anonOtherMb: number, fileMb: number } {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8')
  let name = ''
  let rss = 0; let heap = 0; let anon = 0; let file = 0
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head !== null) { name = head[1] ?? ''; continue }
    const m = /^Rss:\s+(\d+) kB/.exec(line)
    if (m === null) continue
    const kb = Number(m[1])
    rss += kb
    if (name === '[heap]') heap += kb
    else if (name === '' || name.startsWith('[anon')) anon += kb
    else file += kb
  }
  const mb = (kb: number): number => Math.round(kb / 102.4) / 10
  return { rssMb: mb(rss), heapMb: mb(heap), anonOtherMb: mb(anon), fileMb: mb(file) }
}

const V8_STATS = `(() => {
  const v8 = process.getBuiltinModule('node:v8')
  const m = process.memoryUsage()
  const h = v8.getHeapStatistics()
  const out = { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, mallocedMemory: h.malloced_memory, peakMallocedMemory: h.peak_malloced_memory, externalMemory: h.external_memory }
  for (const s of v8.getHeapSpaceStatistics()) out['committed:' + s.space_name] = s.physical_space_size
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] / 104857.6) / 10
  return JSON.stringify(out)
})()`

async function read (insp: InspectorClient, pid: number): Promise<Reading> {
  const v8 = JSON.parse(String(await insp.evaluate(V8_STATS))) as Record<string, number>
  return { ...smaps(pid), v8 }
}

const METHODS: ReadonlyArray<readonly [string, (i: InspectorClient) => Promise<unknown>]> = [
  ['nothing (10 s more idle)', async () => { await sleep(8_000) }],
  ['gc() major, regular (v8.setFlagsFromString(--expose-gc) + vm.runInNewContext)', async (i) => await i.evaluate("(() => { process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc'); const gc = process.getBuiltinModule('node:vm').runInNewContext('gc'); gc(); return 1 })()")],
  ['gc({ flavor: last-resort }) (memory-reducing, several passes)', async (i) => await i.evaluate("(() => { const gc = process.getBuiltinModule('node:vm').runInNewContext('gc'); gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }); return 1 })()")],
  ['HeapProfiler.collectGarbage x2 (the fault suite\'s forced GC)', async (i) => { await i.call('HeapProfiler.collectGarbage'); await i.call('HeapProfiler.collectGarbage') }],
  // glibc's malloc_trim(0) (returns free pages inside the malloc heap, not only its top), which Node cannot
  // call: called from gdb attached to the process, when gdb is installed, to measure what it would give.
  ['malloc_trim(0) (through gdb)', async (i) => {
    try {
      execFileSync('gdb', ['-p', String(i.pid), '-batch', '-ex', 'call (int) malloc_trim(0)'], { stdio: 'ignore', timeout: 60_000 })
    } catch (err) {
      process.stdout.write(`malloc_trim through gdb failed: ${err instanceof Error ? err.message : String(err)}\n`)
    }
  }],
]

const group = new ChildGroup()
const dir = mkdtempSync(join(tmpdir(), 'sluice-reclaim-'))
const ctx: FaultContext = { group, dir, soakMinutes: 0, log: (l) => { process.stdout.write(l + '\n') } }
try {
  const inspectPort = await freePort()
  const frontArgs = [...nodeArgs, `--inspect-port=${HOST}:${inspectPort}`]
  const stack = await startStack(ctx, kind, kind === 'sidecar' ? { frontNodeArgs: frontArgs, sidecarArgs: sluiceArgs } : { frontNodeArgs: frontArgs, activatorArgs: sluiceArgs })
  const { front } = stack
  const insp = new InspectorClient(front.pid, inspectPort)
  const rows: Array<[string, Reading]> = []
  const take = async (label: string): Promise<void> => {
    const r = await read(insp, front.pid)
    rows.push([label, r])
    process.stdout.write(`${kind}: ${label}: RSS ${r.rssMb} MB ([heap] ${r.heapMb}, other anon ${r.anonOtherMb}, file ${r.fileMb}); v8 ${JSON.stringify(r.v8)}\n`)
  }
  await runAborts({ port: front.port, headerLines: front.headerLines, requests: 5_000, workers: 64, abortShare: 0 })
  await sleep(2_000)
  await take('idle after warm-up')
  await runAborts({ port: front.port, headerLines: front.headerLines, requests: 100_000, workers: 64, abortShare: 0.2, complete: true })
  await runAborts({ port: front.port, headerLines: front.headerLines, requests: 100_000, workers: 64, abortShare: 0.2 })
  await sleep(5_000)
  await take('5 s after control + abort runs')
  for (const [label, run] of METHODS) {
    await run(insp)
    await sleep(2_000)
    await take(`after ${label}`)
  }
  insp.close()
  await stopStack(ctx, stack)
  process.stdout.write(`\n| ${kind} | RSS MB | [heap] | other anon | file | V8 heapTotal | used | external |\n|---|---|---|---|---|---|---|---|\n`)
  for (const [label, r] of rows) process.stdout.write(`| ${label} | ${r.rssMb} | ${r.heapMb} | ${r.anonOtherMb} | ${r.fileMb} | ${r.v8.heapTotal} | ${r.v8.heapUsed} | ${r.v8.external} |\n`)
} finally {
  await group.stopAll()
  rmSync(dir, { recursive: true, force: true })
}

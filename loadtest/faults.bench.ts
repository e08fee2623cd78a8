// Fault suite (issue 13, "Faults, with figures"): each scenario breaks something on purpose (clients that
// abort, SIGTERM mid-load, the app crashing, slow clients, 10,000 idle connections, the autoscaler
// away, a long soak) against the sidecar and, where it applies, the activator, asserts its pass
// condition and records the figures. Loopback only; every scenario is bounded in count and time and
// stops every process it started. One scenario per file under loadtest/faults/.
//
//   npm run bench:faults                              # everything (about 25 minutes with the 10-minute soak)
//   npm run bench:faults -- --only aborts             # one scenario (repeatable, or comma-separated)
//   npm run bench:faults -- --only soak --soak-minutes 2
//   npm run bench:faults -- --target sidecar          # only the sidecar variants
//   npm run bench:faults -- --no-write                # print, write no result files
//
// Results: loadtest/results/faults-<stamp>.json and .md (one per run; a run of one scenario writes
// its own pair), summarised in docs/reliability.md. Exit code 1 when a check failed.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ChildGroup } from './harness/child-group.ts'
import { describeSluiceVersion, fileStamp, log, machineInfo } from './harness/bench-run.ts'
import { runAbortsScenario } from './faults/aborts.ts'
import { runDrainScenario } from './faults/drain.ts'
import { runAppCrashScenario } from './faults/app-crash.ts'
import { runSlowClientsScenario } from './faults/slow-clients.ts'
import { runIdleConnectionsScenario } from './faults/idle-connections.ts'
import { runAutoscalerOutageScenario } from './faults/autoscaler-outage.ts'
import { runSoakScenario } from './faults/soak.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './faults/fault-kit.ts'

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))

type Runner = (ctx: FaultContext, kind: TargetKind) => Promise<ScenarioResult>
const SCENARIOS: ReadonlyArray<{ name: string, targets: readonly TargetKind[], run: Runner }> = [
  { name: 'aborts', targets: ['sidecar', 'activator'], run: runAbortsScenario },
  { name: 'drain', targets: ['sidecar', 'activator'], run: runDrainScenario },
  { name: 'app-crash', targets: ['sidecar', 'activator'], run: runAppCrashScenario },
  { name: 'slow-clients', targets: ['sidecar', 'activator'], run: runSlowClientsScenario },
  { name: 'idle-connections', targets: ['sidecar', 'activator'], run: runIdleConnectionsScenario },
  { name: 'autoscaler-outage', targets: ['activator'], run: runAutoscalerOutageScenario },
  { name: 'soak', targets: ['activator'], run: runSoakScenario },
]

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    target: { type: 'string' },
    'soak-minutes': { type: 'string', default: '10' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (values.help === true) {
  process.stdout.write(`npm run bench:faults -- [--only <scenario>[,...]] [--target sidecar|activator] [--soak-minutes N] [--no-write]\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n`)
  process.exit(0)
}
const only = (values.only ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '')
for (const o of only) if (!SCENARIOS.some((s) => s.name === o)) { process.stderr.write(`faults: unknown scenario ${o}\n`); process.exit(2) }
const soakMinutes = Number(values['soak-minutes'])
if (!(soakMinutes > 0)) { process.stderr.write('faults: --soak-minutes must be > 0\n'); process.exit(2) }
const targetFilter = values.target ?? null
if (targetFilter !== null && targetFilter !== 'sidecar' && targetFilter !== 'activator') { process.stderr.write('faults: --target is sidecar or activator\n'); process.exit(2) }

const group = new ChildGroup()
const dir = mkdtempSync(join(tmpdir(), 'sluice-faults-'))
const ctx: FaultContext = { group, dir, soakMinutes, log }
const started = new Date()
const results: ScenarioResult[] = []
const failures: string[] = []
try {
  for (const s of SCENARIOS) {
    if (only.length > 0 && !only.includes(s.name)) continue
    for (const kind of s.targets) {
      if (targetFilter !== null && kind !== targetFilter) continue
      log(`faults: ${s.name} (${kind})`)
      try {
        const r = await s.run(ctx, kind)
        results.push(r)
        for (const c of r.checks) log(`  ${c.pass ? 'pass' : 'FAIL'}: ${c.name}: ${c.got} (want ${c.want})`)
      } catch (err) {
        failures.push(`${s.name} (${kind}): ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
        log(`  ERROR: ${failures.at(-1) ?? ''}`)
      }
      await group.stopAll()
    }
  }
} finally {
  await group.stopAll()
}

const command = `npm run bench:faults${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
const report = { command, startedAt: started.toISOString(), machine: machineInfo(), sluice: describeSluiceVersion(null), soakMinutes, results, errors: failures }
const md = markdown(report)
process.stdout.write(md)
if (values['no-write'] !== true) {
  const stamp = fileStamp(started)
  writeFileSync(join(RESULTS, `faults-${stamp}.json`), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(RESULTS, `faults-${stamp}.md`), md)
  log(`faults: wrote loadtest/results/faults-${stamp}.json and .md`)
}
rmSync(dir, { recursive: true, force: true })
process.exit(failures.length === 0 && results.every((r) => r.pass) ? 0 : 1)

function markdown (r: typeof report): string {
  const lines = [
    `# Fault suite, ${r.startedAt}`,
    '',
    `Command: \`${r.command}\`. Node ${r.machine.node}, ${r.machine.cpuModel}, ${r.machine.cores} cores (shared with other engineers' jobs), Linux ${r.machine.kernel}. Sluice: ${r.sluice}.`,
    '',
    '| scenario | target | result | load avg (1 min) start / end | duration s |',
    '|---|---|---|---|---|',
    ...r.results.map((x) => `| ${x.scenario} | ${x.target} | ${x.pass ? 'pass' : '**FAIL**'} | ${x.loadavgStart[0] ?? '-'} / ${x.loadavgEnd[0] ?? '-'} | ${x.durationS} |`),
    '',
  ]
  for (const x of r.results) {
    lines.push(`## ${x.scenario} (${x.target})`, '', '| check | want | got | |', '|---|---|---|---|')
    for (const c of x.checks) lines.push(`| ${c.name} | ${c.want} | ${c.got} | ${c.pass ? 'pass' : '**FAIL**'} |`)
    lines.push('', 'Figures: ' + Object.entries(x.figures).map(([k, v]) => `${k} ${String(v)}`).join(', ') + '.', '')
    if (x.notes.length > 0) lines.push(...x.notes.map((n) => `- ${n}`), '')
    lines.push('Commands:', '', ...x.commands.map((c) => `- \`${c}\``), '')
  }
  if (r.errors.length > 0) lines.push('## Errors', '', ...r.errors.map((e) => '```\n' + e + '\n```'), '')
  return lines.join('\n')
}

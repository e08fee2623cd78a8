// Sidecar load test (issue 3 "Load test", issue 4 "stats cost"). `npm run bench:sidecar [-- flags]`.
//
// Targets, all on 127.0.0.1, each its own process tree: the upstream directly (nginx, 1 worker, 1 KB
// `return 200`; a Node server if nginx is missing), Sluice sidecar CC=0, CC=10, CC=10 --no-stats, a
// minimal Node proxy (baseline-proxy.ts: the floor for a node:http + undici design), and HAProxy (nbthread 1, server maxconn 10) when installed. Rounds interleave the targets (rotating the order)
// so slow drifts in background load hit every target alike. Per run: closed-loop load (wrk -t1 -c50, or
// autocannon -c50), CPU of the proxy's processes from /proc (utime+stime delta / requests), and an
// open-loop paced run at --open-rate for tail latency. Peak RSS is VmHWM at the end. Results:
// loadtest/results/sidecar-<stamp>.json and .md (the newest stamp is the latest run).
//
// With --profile, runs only Sluice CC=10 under `--cpu-prof` for one closed-loop run and prints where the
// time goes (loadtest/harness/cpu-profile-summary.ts).

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runAutocannon } from './harness/autocannon-runner.ts'
import type { BenchTarget, MachineInfo, QuietWait } from './harness/bench-run.ts'
import { describeRun, describeSluiceVersion, fileStamp, gitHead, log, machineInfo, measured, otherCpuPct, sleep, waitForQuiet } from './harness/bench-run.ts'
import type { RunRecord, TargetSummary } from './harness/bench-summary.ts'
import { markdownTable, median, pairedRatio, statsCost, summariseTarget, withRatios } from './harness/bench-summary.ts'
import { startOtlpSink } from './harness/otlp-sink.ts'
import { ChildGroup } from './harness/child-group.ts'
import { formatProfileSummary, summariseProfile } from './harness/cpu-profile-summary.ts'
import type { LoadResult } from './harness/load-result.ts'
import { runPaced } from './harness/paced-runner.ts'
import { peakRssKb, processTree } from './harness/proc-stats.ts'
import { exportSluiceRef, hasBinary, HOST, startHaproxy, startNginx, startNodeBaseline, startNodeUpstream, startSluice } from './harness/targets.ts'
import { hasWrk, runWrk } from './harness/wrk-runner.ts'

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url))

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    'open-duration': { type: 'string', default: '5' },
    'open-rate': { type: 'string', default: '2000' },
    connections: { type: 'string', default: '50' },
    quick: { type: 'boolean', default: false },
    'no-haproxy': { type: 'boolean', default: false },
    'no-wrk': { type: 'boolean', default: false },
    'no-nginx': { type: 'boolean', default: false },
    'no-autocannon-rate': { type: 'boolean', default: false },
    'sidecar-node-args': { type: 'string', default: '' },
    only: { type: 'string', default: '' },
    profile: { type: 'boolean', default: false },
    serve: { type: 'string' },
    'sluice-ref': { type: 'string' },
    'also-ref': { type: 'string', multiple: true, default: [] },
    'no-write': { type: 'boolean', default: false },
    'wait-idle': { type: 'string', default: '25' },
    'wait-idle-max': { type: 'string', default: '60' },
    help: { type: 'boolean', default: false },
  },
})

const USAGE = `npm run bench:sidecar -- [flags]
  --duration <s>          closed-loop seconds per target per round (default 10; --quick: 3)
  --rounds <n>            interleaved rounds (default 3; --quick: 1)
  --warmup <s>            unrecorded warm-up per target before round 1 (default 3; --quick: 1)
  --open-duration <s>     paced open-loop seconds per target per round (default 5; --quick: 2)
  --open-rate <req/s>     open-loop rate (default 2000)
  --connections <n>       closed-loop connections (default 50)
  --quick                 a smoke run: 1 round of 3 s
  --only <a,b>            targets to run: direct,sluice-cc0,sluice-cc10,sluice-cc10-nostats,node-baseline,haproxy;
                          also (only when named) sluice-cc10-otel and sluice-cc10-otel-0.1: CC=10 with OpenTelemetry
                          request metrics and traces exported over OTLP/HTTP to a sink in this process (sampling
                          1.0 and 0.1); compare with sluice-cc10 (off) in the same run; with --also-ref, also at each ref
  --no-haproxy --no-wrk --no-nginx --no-autocannon-rate   leave a tool out even when installed
  --sidecar-node-args="<flags>"   extra Node flags for the Sluice processes (e.g. --max-semi-space-size=16)
  --profile               Sluice CC=10 only, under --cpu-prof; prints the hot spots
  --sluice-ref <git ref>  measure that committed version of Sluice (git archive into the temp dir) instead of
                          the working tree, e.g. HEAD while others edit src/
  --also-ref <git ref>    add target sluice-cc10@<ref> (that committed version, CC=10) for before/after in
                          the same run; repeatable. A directory holding bin/sluice (a patched copy) works too.
  --serve <s>             start the upstream and targets, print their ports and pids, keep them up for <s>
                          seconds (or until Ctrl-C) for manual load or perf; measures nothing
  --no-write              print the table, write no file under loadtest/results/
  --wait-idle <pct>       before each round, wait until other processes use at most <pct>% of the machine
                          (sampled over 1 s; default 25; 100 = never wait)
  --wait-idle-max <s>     give up waiting after <s> seconds per round and run anyway (default 60)
`

function intFlag (name: string, value: string | undefined, quickValue: number | null): number {
  if (flags.quick && quickValue !== null && !process.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) return quickValue
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`loadtest: --${name} must be a positive integer, got "${String(value)}"\n`)
    process.exit(2)
  }
  return n
}

const durationS = intFlag('duration', flags.duration, 3)
const rounds = intFlag('rounds', flags.rounds, 1)
const warmupS = intFlag('warmup', flags.warmup, 1)
const openDurationS = intFlag('open-duration', flags['open-duration'], 2)
const openRate = intFlag('open-rate', flags['open-rate'], null)
const connections = intFlag('connections', flags.connections, null)
const sidecarNodeArgs = flags['sidecar-node-args'].split(' ').filter((a) => a !== '')
const waitIdlePct = intFlag('wait-idle', flags['wait-idle'], null)
const waitIdleMaxS = intFlag('wait-idle-max', flags['wait-idle-max'], 10)
const only = new Set(flags.only.split(',').filter((a) => a !== ''))

type Target = BenchTarget

async function main (): Promise<void> {
  if (flags.help) { process.stdout.write(USAGE); return }
  const group = new ChildGroup()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'))
  // Also on Ctrl-C and the watchdog, which leave through process.exit() and skip `finally`.
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  // Bound the whole run: stop everything if it takes far longer than planned.
  const targetCount = 8 + flags['also-ref'].length
  const plannedS = (warmupS * targetCount) + rounds * (waitIdleMaxS + targetCount * (durationS + openDurationS + 3)) + targetCount * (openDurationS + 3) + 60
  const watchdog = setTimeout(() => {
    log(`loadtest: still running after ${plannedS * 2} s, giving up`)
    group.killAllNow()
    process.exit(1)
  }, plannedS * 2 * 1000)
  watchdog.unref()
  try {
    await run(group, dir)
  } finally {
    await group.stopAll()
    clearTimeout(watchdog)
    rmSync(dir, { recursive: true, force: true })
  }
}

async function run (group: ChildGroup, dir: string): Promise<void> {
  const nginxVersion = flags['no-nginx'] ? null : hasBinary('nginx', ['-v'])
  const haproxyVersion = flags['no-haproxy'] ? null : hasBinary('haproxy', ['-v'])
  const useWrk = !flags['no-wrk'] && hasWrk()
  const wrkVersion = useWrk ? hasBinary('wrk', ['-v']) : null

  const upstream = nginxVersion !== null ? await startNginx(group, dir) : await startNodeUpstream(group, dir)
  log(`upstream: ${upstream.label} on ${HOST}:${upstream.port}`)

  const sluiceRef = flags['sluice-ref'] ?? null
  const sluiceBin = sluiceRef === null ? undefined : exportSluiceRef(sluiceRef, dir)
  const sluiceVersion = describeSluiceVersion(sluiceRef)
  log(`sluice: ${sluiceVersion}`)
  const want = (name: string): boolean => only.size === 0 || only.has(name)
  const targets: Target[] = []
  if (flags.profile) {
    const profDir = join(dir, 'prof')
    mkdirSync(profDir)
    const s = await startSluice(group, dir, 'sluice-cc10', upstream.port, { bin: sluiceBin, containerConcurrency: 10, stats: true, nodeArgs: [...sidecarNodeArgs, '--cpu-prof', `--cpu-prof-dir=${profDir}`] })
    const target: Target = { name: s.label, description: s.command, server: s, proxyPid: s.child.pid }
    log(`profiling ${s.command}`)
    await runWrk(group, { url: `http://${HOST}:${s.port}/`, connections, threads: 1, durationS: warmupS })
    const r = await measured(target, upstream.child.pid, 1, 'closed', () => runWrk(group, { url: `http://${HOST}:${s.port}/`, connections, threads: 1, durationS }))
    log(describeRun(r))
    // SIGTERM with --drain-seconds 0: the sidecar exits on its own, and Node writes the profile at exit.
    await group.stop(s.child)
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file === undefined) throw new Error('loadtest: the sidecar wrote no .cpuprofile (did it exit cleanly?)')
    const stamp = fileStamp(new Date())
    if (!flags['no-write']) {
      mkdirSync(RESULTS_DIR, { recursive: true })
      const out = join(RESULTS_DIR, `sidecar-profile-${stamp}.md`)
      writeFileSync(out, `# Sluice sidecar CC=10 CPU profile (${stamp})\n\n${describeRun(r).trim()}\n\n${formatProfileSummary(summariseProfile(join(profDir, file), 30))}`)
      log(`wrote ${out}`)
    }
    process.stdout.write(formatProfileSummary(summariseProfile(join(profDir, file), 30)))
    return
  }

  if (want('direct')) targets.push({ name: 'direct', description: `${upstream.label} upstream, no proxy`, server: upstream, proxyPid: null })
  for (const [name, cc, stats] of [['sluice-cc0', 0, true], ['sluice-cc10', 10, true], ['sluice-cc10-nostats', 10, false]] as const) {
    if (!want(name)) continue
    const s = await startSluice(group, dir, name, upstream.port, { bin: sluiceBin, containerConcurrency: cc, stats, nodeArgs: sidecarNodeArgs })
    targets.push({ name, description: `Sluice sidecar CC=${cc}${stats ? '' : ' --no-stats'}`, server: s, proxyPid: s.child.pid })
  }
  // OpenTelemetry on (issue 15): opt-in targets, against a sink that answers every export with 200.
  // With --also-ref, each named OpenTelemetry target runs at each ref too (`sluice-cc10-otel@<ref>`):
  // the telemetry's before/after in one run.
  const otelVariants = ([['sluice-cc10-otel', 1], ['sluice-cc10-otel-0.1', 0.1]] as const).filter(([name]) => only.has(name))
  if (otelVariants.length > 0) {
    const sink = await startOtlpSink()
    const builds: Array<{ suffix: string, bin: string | undefined, at: string }> = [{ suffix: '', bin: sluiceBin, at: '' }]
    for (const ref of flags['also-ref']) {
      const isDir = existsSync(join(ref, 'bin', 'sluice'))
      builds.push({ suffix: `@${isDir ? basename(ref) : ref}`, bin: isDir ? join(ref, 'bin', 'sluice') : exportSluiceRef(ref, join(dir, `otel-${ref.replace(/[^A-Za-z0-9._-]/g, '_')}`)), at: isDir ? ` at ${ref}` : ` at ${ref} = ${gitHead(ref)}` })
    }
    for (const build of builds) {
      for (const [variant, rate] of otelVariants) {
        const name = variant + build.suffix
        const o11y = JSON.stringify({
          requestMetrics: { protocol: 'http/protobuf', endpoint: `${sink.origin}/v1/metrics`, exportInterval: 10_000_000_000 },
          tracing: { protocol: 'http/protobuf', endpoint: `${sink.origin}/v1/traces`, samplingRate: rate },
        })
        const s = await startSluice(group, dir, name.replace(/[^A-Za-z0-9._-]/g, '_'), upstream.port, { bin: build.bin, containerConcurrency: 10, stats: true, nodeArgs: sidecarNodeArgs, env: { OBSERVABILITY_CONFIG: o11y } })
        targets.push({ name, description: `Sluice sidecar CC=10${build.at}, OpenTelemetry metrics (10 s export) + traces sampled at ${rate} over OTLP/HTTP`, server: s, proxyPid: s.child.pid })
      }
    }
  }
  for (const ref of flags['also-ref']) {
    // A directory with bin/sluice (e.g. a patched copy for an experiment) is used as it is.
    const isDir = existsSync(join(ref, 'bin', 'sluice'))
    const bin = isDir ? join(ref, 'bin', 'sluice') : exportSluiceRef(ref, dir)
    const name = `sluice-cc10@${isDir ? basename(ref) : ref}`
    const s = await startSluice(group, dir, name.replace(/[^A-Za-z0-9._-]/g, '_'), upstream.port, { bin, containerConcurrency: 10, stats: true, nodeArgs: sidecarNodeArgs })
    targets.push({ name, description: `Sluice sidecar CC=10 at ${isDir ? ref : `${ref} = ${gitHead(ref)}`}`, server: s, proxyPid: s.child.pid })
  }
  if (want('node-baseline')) {
    const b = await startNodeBaseline(group, dir, upstream.port, 10, sidecarNodeArgs)
    targets.push({ name: 'node-baseline', description: 'node:http + undici Pool.dispatch (10 connections), no Sluice features', server: b, proxyPid: b.child.pid })
  }
  if (haproxyVersion !== null && want('haproxy')) {
    const h = await startHaproxy(group, dir, upstream.port)
    targets.push({ name: 'haproxy', description: 'HAProxy nbthread 1, server maxconn 10', server: h, proxyPid: h.child.pid })
  }
  log(`targets: ${targets.map((t) => `${t.name}=:${t.server.port}`).join(' ')}`)

  if (flags.serve !== undefined) {
    const serveS = Number(flags.serve)
    for (const t of targets) log(`${t.name.padEnd(20)} http://${HOST}:${t.server.port}/  pid ${t.proxyPid ?? upstream.child.pid}`)
    log(`serving for ${serveS} s (Ctrl-C stops everything)`)
    await sleep(serveS * 1000)
    return
  }

  const closedLoop = (t: Target, seconds: number): Promise<LoadResult> => {
    const url = `http://${HOST}:${t.server.port}/`
    return useWrk
      ? runWrk(group, { url, connections, threads: 1, durationS: seconds })
      : runAutocannon(group, { url, connections, durationS: seconds, overallRate: null })
  }

  log(`warm-up: ${warmupS} s per target`)
  for (const t of targets) await closedLoop(t, warmupS)

  const runs: RunRecord[] = []
  const background: QuietWait[] = []
  for (let round = 1; round <= rounds; round++) {
    // Other engineers' test runs share the 2 cores: wait (bounded) for a quieter moment.
    const quiet = await waitForQuiet(round, waitIdlePct, waitIdleMaxS)
    background.push(quiet)
    log(`round ${round}/${rounds} (background CPU ${quiet.busyPct.toFixed(0)}% of the machine after ${quiet.waitedS} s, loadavg ${quiet.loadavg1.toFixed(2)})`)
    // Rotate the order each round so no target always runs first (or right after the same neighbour).
    const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]).filter((t): t is Target => t !== undefined)
    for (const t of order) {
      const r = await measured(t, upstream.child.pid, round, 'closed', () => closedLoop(t, durationS))
      runs.push(r)
      log(describeRun(r))
    }
    for (const t of order) {
      const r = await measured(t, upstream.child.pid, round, 'paced', () => runPaced(group, { host: HOST, port: t.server.port, rate: openRate, durationS: openDurationS, connections }))
      runs.push(r)
      log(describeRun(r))
    }
  }
  if (!flags['no-autocannon-rate']) {
    for (const t of targets) {
      const r = await measured(t, upstream.child.pid, 0, 'autocannon-rate', () => runAutocannon(group, { url: `http://${HOST}:${t.server.port}/`, connections, durationS: openDurationS, overallRate: openRate }))
      runs.push(r)
      log(describeRun(r))
    }
  }

  const summaries: TargetSummary[] = withRatios(targets.map((t) => summariseTarget(
    t.name, t.description, runs,
    t.proxyPid === null ? null : peakRssKb(processTree(t.proxyPid)),
    openRate,
  )))
  const upstreamPeakRssMb = peakRssKb(processTree(upstream.child.pid)) / 1024
  const cost = statsCost(summaries, 'sluice-cc10', 'sluice-cc10-nostats')

  const now = new Date()
  const stamp = fileStamp(now)
  const closedCmd = runs.find((r) => r.kind === 'closed')?.load.command ?? ''
  const pacedCmd = runs.find((r) => r.kind === 'paced')?.load.command ?? ''
  const rateCmd = runs.find((r) => r.kind === 'autocannon-rate')?.load.command ?? ''
  const report = {
    date: now.toISOString(),
    command: `npm run bench:sidecar -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    sluice: sluiceVersion,
    tools: { loadGenerator: useWrk ? wrkVersion : 'autocannon 9 (wrk not installed or --no-wrk)', nginx: nginxVersion, haproxy: haproxyVersion },
    settings: { durationS, rounds, warmupS, openDurationS, openRate, connections, sidecarNodeArgs, waitIdlePct, waitIdleMaxS },
    commands: {
      upstream: upstream.command.replaceAll(dir, '<tmp>'),
      targets: Object.fromEntries(targets.map((t) => [t.name, t.server === upstream ? '(direct)' : t.server.command.replaceAll(dir, '<tmp>')])),
      closedLoop: closedCmd.replace(/:\d+\//, ':<port>/'),
      openLoop: pacedCmd.replace(/ \d+ (\d+ \d+ \d+)$/, ' <port> $1'),
      autocannonRate: rateCmd.replace(/:\d+\//, ':<port>/'),
    },
    background,
    upstreamPeakRssMb,
    summaries,
    statsCost: cost,
    runs,
  }
  const md = renderMarkdown(report, summaries, cost)
  process.stdout.write('\n' + md)
  if (flags['no-write']) return
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `sidecar-${stamp}.json`), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(RESULTS_DIR, `sidecar-${stamp}.md`), md)
  log(`wrote loadtest/results/sidecar-${stamp}.json and .md`)
}

interface ReportHead {
  date: string
  command: string
  machine: MachineInfo
  sluice: string
  tools: { loadGenerator: string | null, nginx: string | null, haproxy: string | null }
  settings: { durationS: number, rounds: number, warmupS: number, openDurationS: number, openRate: number, connections: number, sidecarNodeArgs: string[], waitIdlePct: number, waitIdleMaxS: number }
  commands: { upstream: string, targets: Record<string, string>, closedLoop: string, openLoop: string, autocannonRate: string }
  background: QuietWait[]
  upstreamPeakRssMb: number
  runs: RunRecord[]
}

function renderMarkdown (r: ReportHead, summaries: readonly TargetSummary[], cost: ReturnType<typeof statsCost>): string {
  const s = r.settings
  const otherPct = otherCpuPct(r.runs, r.machine.cores)
  const lines = [
    `# Sluice sidecar load test, ${r.date.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `\`${r.command}\` on Node ${r.machine.node}, ${r.machine.cpuModel}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB, Linux ${r.machine.kernel}.`,
    `Sluice: ${r.sluice}.`,
    `Load: ${r.tools.loadGenerator ?? '-'}; upstream: ${r.tools.nginx ?? 'node:http (nginx not installed)'}; HAProxy: ${r.tools.haproxy ?? 'not installed'}.`,
    `${s.rounds} interleaved round(s) x ${s.durationS} s closed loop (${s.connections} connections) per target after ${s.warmupS} s warm-up; open loop ${s.openRate} req/s for ${s.openDurationS} s per target per round.`,
    '',
    markdownTable(summaries).trimEnd(),
    '',
    'Columns: req/s is the median over rounds (min-max across rounds); vs direct / vs HAProxy = median over rounds of the',
    'ratio within each round; latencies are closed-loop medians over rounds;',
    'CPU us/req = utime+stime of the proxy process(es) from /proc over the closed-loop runs / requests served;',
    'peak RSS = VmHWM summed over the proxy\'s processes at the end of the run; open loop = paced client',
    `(evenly spaced, ${s.openRate} req/s, latency from send, or from due time when no connection was free);`,
    'autocannon -R = autocannon overallRate (bursty per-second budget, whole-millisecond resolution).',
    '',
  ]
  const off = summaries.find((x) => x.target === 'sluice-cc10')
  const otel = summaries.filter((x) => x.target.startsWith('sluice-cc10-otel'))
  if (off !== undefined && otel.length > 0) {
    lines.push('**OpenTelemetry cost** (issue 15), against sluice-cc10 (off) in the same run: ' + otel.map((x) =>
      `${x.target} ${pairedRatio(x, off).toFixed(3)}x req/s (median of per-round ratios), CPU ${x.proxyCpuUsPerReq?.toFixed(1) ?? '-'} vs ${off.proxyCpuUsPerReq?.toFixed(1) ?? '-'} us/req, peak RSS ${x.peakRssMb?.toFixed(1) ?? '-'} vs ${off.peakRssMb?.toFixed(1) ?? '-'} MB`).join('; ') + '.', '')
  }
  if (cost !== null) {
    lines.push(`**Stats cost** (issue 4, target < 3%): ${cost.withStats} vs ${cost.withoutStats}: ${cost.costPctMedianOfRounds.toFixed(1)}% (median of per-round differences: ${cost.costPctPerRound.map((v) => `${v.toFixed(1)}%`).join(', ')}; of the medians: ${cost.costPctOfMedians.toFixed(1)}%; positive = slower with stats); CPU ${cost.cpuUsPerReqOn?.toFixed(1) ?? '-'} vs ${cost.cpuUsPerReqOff?.toFixed(1) ?? '-'} us/req.`, '')
  }
  const upstreamCpu = summaries.find((x) => x.target === 'direct')?.upstreamCpuUsPerReq
  lines.push(
    `Upstream: ${r.commands.upstream}; its CPU in the direct run ${upstreamCpu === undefined ? '-' : upstreamCpu.toFixed(1)} us/req; peak RSS ${r.upstreamPeakRssMb.toFixed(1)} MB.`,
    '',
    `Noise: background CPU before each round (nothing of ours running): ${r.background.map((b) => `${b.busyPct.toFixed(0)}%${b.waitedS > 1 ? ` (after waiting ${b.waitedS} s)` : ''}`).join(', ')} of the machine; CPU of other processes during the closed-loop runs: median ${median(otherPct).toFixed(0)}%, max ${Math.max(...otherPct).toFixed(0)}% of the machine.`,
    '',
    'Commands:',
    '',
    `- closed loop: \`${r.commands.closedLoop}\``,
    `- open loop: \`${r.commands.openLoop}\``,
    `- autocannon rate: \`${r.commands.autocannonRate}\``,
  )
  for (const [name, cmd] of Object.entries(r.commands.targets)) lines.push(`- ${name}: \`${cmd}\``)
  return lines.join('\n') + '\n'
}

main().catch((err: unknown) => {
  process.stderr.write(`loadtest: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})

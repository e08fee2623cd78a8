// Activator load test (issue 5, last acceptance bullet). `npm run bench:activator [-- flags]`.
//
// Four backend "pods": one nginx (1 worker) listening on four ports, `return 200` with a 1 KB body and
// `/healthz` answering `queue` (what a queue-proxy answers the activator's probe). Targets, all on
// 127.0.0.1, each its own process tree:
//   direct     wrk straight at one of the pods' ports (one nginx worker serves all four ports, so one port
//              is the whole upstream's ceiling; wrk -t1 talks to one address anyway)
//   activator  `bin/sluice activator`, revision default/bench registered through the admin API with
//              containerConcurrency 10 and the four pods as endpoints (capacity 40)
//   haproxy    HAProxy nbthread 1, four `server ... maxconn 10` (round-robin), the same capacity
//   node-baseline  loadtest/baseline-proxy.ts (node:http + undici Pool.dispatch, 40 connections to one pod
//              port): the floor of a node:http + undici proxy on this machine, measured in the same run
//   activator-xN   (--replicas N >= 2, default the machine's cores up to 2) N activator processes on one
//              port (--reuse-port, --activator-count N, --activator-index i: each owns its slice of the
//              pods at full CC), against
//   haproxy-Nt HAProxy nbthread N, same servers: both proxies on every core, as deployed for real
// Every request, to every target, carries `Knative-Serving-Namespace: default` and
// `Knative-Serving-Revision: bench` (the activator routes on them; nginx and HAProxy ignore them), so all
// targets parse the same bytes. Rounds interleave the targets (rotating the order); per run: closed loop
// (wrk -t1 -c50), the activator's CPU and syscalls from /proc, then an open-loop paced run at --open-rate.
// Peak RSS is VmHWM at the end.
//
// Then cold starts against a fresh activator (harness/cold-start.ts): revision default/cold with no
// endpoints, --cold-requests buffered requests, the endpoints PUT, repeated --cold-repeats times.
//
// Results: loadtest/results/activator-<stamp>.json and .md. With --profile:
// the activator under --cpu-prof for one closed-loop run, hot spots in activator-profile-<stamp>.md.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runAutocannon } from './harness/autocannon-runner.ts'
import type { BenchTarget, MachineInfo, QuietWait } from './harness/bench-run.ts'
import { describeRun, describeSluiceVersion, fileStamp, log, machineInfo, measured, otherCpuPct, proxyProcesses, sleep, waitForQuiet } from './harness/bench-run.ts'
import type { RunRecord, TargetSummary } from './harness/bench-summary.ts'
import type { QuietFigures } from './harness/bench-summary.ts'
import { markdownTable, median, pairedRatio, quietFigures, quietPairedRatio, summariseTarget, withRatios } from './harness/bench-summary.ts'
import { ChildGroup } from './harness/child-group.ts'
import type { ColdStartSample } from './harness/cold-start.ts'
import { runColdStarts, sampleValue } from './harness/cold-start.ts'
import { formatProfileSummary, summariseProfile } from './harness/cpu-profile-summary.ts'
import type { LoadResult } from './harness/load-result.ts'
import { runPaced } from './harness/paced-runner.ts'
import { peakRssKb, processTree } from './harness/proc-stats.ts'
import type { NginxPods, RunningActivator } from './harness/targets.ts'
import { exportSluiceRef, hasBinary, HOST, httpCall, startActivator, startHaproxy, startNginx, startNodeBaseline, waitForOk } from './harness/targets.ts'
import { hasWrk, runWrk } from './harness/wrk-runner.ts'

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url))
const NAMESPACE = 'default'
const REVISION = 'bench'
const COLD_REVISION = 'cold'
const ROUTING: Readonly<Record<string, string>> = Object.freeze({ 'Knative-Serving-Namespace': NAMESPACE, 'Knative-Serving-Revision': REVISION })
const ROUTING_LINES = Object.entries(ROUTING).map(([k, v]) => `${k}: ${v}`)
/** Issue 5's targets. */
const TARGET_RATIO_VS_HAPROXY = 0.5
const TARGET_CPU_US_PER_REQ = 120
const TARGET_OPEN_P99_MS = 5
const TARGET_READY_TO_FORWARD_MS = 25
const ENDPOINTS_READY_WAIT_MS = 10_000

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    'open-duration': { type: 'string', default: '5' },
    'open-rate': { type: 'string', default: '2000' },
    connections: { type: 'string', default: '50' },
    pods: { type: 'string', default: '4' },
    cc: { type: 'string', default: '10' },
    'cold-repeats': { type: 'string', default: '7' },
    'cold-requests': { type: 'string', default: '20' },
    'cold-settle-ms': { type: 'string', default: '200' },
    'no-cold-start': { type: 'boolean', default: false },
    'cold-start-only': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    'no-haproxy': { type: 'boolean', default: false },
    'no-baseline': { type: 'boolean', default: false },
    'no-wrk': { type: 'boolean', default: false },
    'no-autocannon-rate': { type: 'boolean', default: false },
    'activator-node-args': { type: 'string', default: '' },
    replicas: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    profile: { type: 'boolean', default: false },
    serve: { type: 'string' },
    'sluice-ref': { type: 'string' },
    'also-ref': { type: 'string', multiple: true, default: [] },
    'no-write': { type: 'boolean', default: false },
    'wait-idle': { type: 'string', default: '25' },
    'wait-idle-max': { type: 'string', default: '60' },
    'quiet-other': { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
})

const USAGE = `npm run bench:activator -- [flags]
  --duration <s>          closed-loop seconds per target per round (default 10; --quick: 3)
  --rounds <n>            interleaved rounds (default 3; --quick: 1)
  --warmup <s>            unrecorded warm-up per target before round 1 (default 3; --quick: 1)
  --open-duration <s>     paced open-loop seconds per target per round (default 5; --quick: 2)
  --open-rate <req/s>     open-loop rate (default 2000)
  --connections <n>       closed-loop and open-loop connections (default 50)
  --pods <n>              backend pods (nginx ports; default 4)
  --cc <n>                containerConcurrency per pod, HAProxy maxconn per server (default 10)
  --cold-repeats <n>      cold starts measured (default 7; --quick: 3)
  --cold-requests <n>     requests buffered per cold start (default 20)
  --cold-settle-ms <ms>   wait after the buffered requests were sent, before the endpoints are added (default 200)
  --no-cold-start         skip the cold starts;  --cold-start-only: only the cold starts
  --no-haproxy --no-wrk --no-autocannon-rate   leave a tool out even when installed
  --no-baseline           leave out node-baseline (node:http + undici dispatch, pods x cc connections)
  --activator-node-args="<flags>"   extra Node flags for the activator (e.g. --max-semi-space-size=16)
  --replicas <n>          add activator-x<n> (n activators sharing the port with --reuse-port, each its
                          own slice of the pods) and haproxy-<n>t (nbthread n); 1 = leave them out
                          (default: the machine's cores, at most 2)
  --profile               the activator only, under --cpu-prof for one closed-loop run; prints the hot spots
  --sluice-ref <git ref>  measure that committed version of Sluice (git archive into the temp dir), e.g. HEAD
  --also-ref <ref|dir>    add target activator@<ref>: that committed version, or a directory holding bin/sluice
                          (a patched copy), for before/after in the same run; repeatable
  --serve <s>             start the pods and targets, print their ports and pids, keep them up for <s> seconds
                          (or until Ctrl-C) for manual load or perf; measures nothing
  --no-write              print the report, write no file under loadtest/results/
  --wait-idle <pct>       before each round, wait until other processes use at most <pct>% of the machine (default 25)
  --wait-idle-max <s>     give up waiting after <s> seconds per round and run anyway (default 60)
  --quiet-other <pct>     a run is "quiet" when other processes used at most <pct>% of one core during it
                          (default 5); the report adds figures over quiet runs only
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
const podCount = intFlag('pods', flags.pods, null)
const cc = intFlag('cc', flags.cc, null)
const replicas = intFlag('replicas', flags.replicas, null)
const replicaTarget = `activator-x${replicas}`
const haproxyThreadsTarget = `haproxy-${replicas}t`
const coldRepeats = intFlag('cold-repeats', flags['cold-repeats'], 3)
const coldRequests = intFlag('cold-requests', flags['cold-requests'], null)
const coldSettleMs = intFlag('cold-settle-ms', flags['cold-settle-ms'], null)
const activatorNodeArgs = flags['activator-node-args'].split(' ').filter((a) => a !== '')
const waitIdlePct = intFlag('wait-idle', flags['wait-idle'], null)
const waitIdleMaxS = intFlag('wait-idle-max', flags['wait-idle-max'], 10)
const quietOtherPct = intFlag('quiet-other', flags['quiet-other'], null)
const doThroughput = !flags['cold-start-only']
const doColdStart = !flags['no-cold-start'] && !flags.profile && flags.serve === undefined

async function main (): Promise<void> {
  if (flags.help) { process.stdout.write(USAGE); return }
  const group = new ChildGroup()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'))
  // Also on Ctrl-C and the watchdog, which leave through process.exit() and skip `finally`.
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  // Bound the whole run: stop everything if it takes far longer than planned.
  const targetCount = 4 + flags['also-ref'].length
  const plannedS = (warmupS * targetCount) + rounds * (waitIdleMaxS + targetCount * (durationS + openDurationS + 3)) +
    targetCount * (openDurationS + 3) + waitIdleMaxS + coldRepeats * 5 + Number(flags.serve ?? 0) + 60
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

function endpointsOf (pods: NginxPods): string[] {
  return pods.ports.map((p) => `${HOST}:${p}`)
}

async function putRevision (a: RunningActivator, name: string, endpoints: readonly string[]): Promise<void> {
  const r = await httpCall('PUT', a.adminPort, `/revisions/${NAMESPACE}/${name}`, JSON.stringify({ containerConcurrency: cc, endpoints }))
  if (r.status !== 200) throw new Error(`loadtest: PUT /revisions/${NAMESPACE}/${name} answered ${r.status}: ${r.body.trim()}`)
}

/** Waits until /metrics shows every endpoint of the revision ready (metrics refresh once a second). */
async function waitForReadyEndpoints (a: RunningActivator, name: string, count: number): Promise<void> {
  const labels = `namespace="${NAMESPACE}",revision="${name}",state="ready"`
  const deadline = performance.now() + ENDPOINTS_READY_WAIT_MS
  for (;;) {
    const page = await httpCall('GET', a.metricsPort, '/metrics', null)
    if (sampleValue(page.body, 'sluice_activator_endpoints', labels) === count) return
    if (performance.now() > deadline) throw new Error(`loadtest: the activator did not report ${count} ready endpoints for ${NAMESPACE}/${name} within ${ENDPOINTS_READY_WAIT_MS} ms`)
    await sleep(200)
  }
}

/** An activator with revision default/bench on every pod, answering through the routing headers. */
async function startBenchActivator (group: ChildGroup, dir: string, name: string, pods: NginxPods, bin: string | undefined, nodeArgs: readonly string[]): Promise<RunningActivator> {
  const a = await startActivator(group, dir, name, { bin, nodeArgs })
  await putRevision(a, REVISION, endpointsOf(pods))
  await waitForOk(a.port, a.child, ROUTING)
  await waitForReadyEndpoints(a, REVISION, pods.ports.length)
  return a
}

/** `replicas` activators on one serving port, each with its index; the revision PUT to each. */
async function startReplicaSet (group: ChildGroup, dir: string, pods: NginxPods, bin: string | undefined, nodeArgs: readonly string[]): Promise<RunningActivator[]> {
  const out: RunningActivator[] = []
  for (let i = 0; i < replicas; i++) {
    const extraArgs = ['--reuse-port', '--activator-count', String(replicas), '--activator-index', String(i)]
    const port = out[0]?.port
    const a = await startActivator(group, dir, `activator-r${i}`, port === undefined ? { bin, nodeArgs, extraArgs } : { bin, nodeArgs, extraArgs, port })
    await putRevision(a, REVISION, endpointsOf(pods))
    await waitForReadyEndpoints(a, REVISION, pods.ports.length)
    out.push(a)
  }
  const first = out[0]
  if (first !== undefined) await waitForOk(first.port, first.child, ROUTING)
  return out
}

async function run (group: ChildGroup, dir: string): Promise<void> {
  const nginxVersion = hasBinary('nginx', ['-v'])
  if (nginxVersion === null) throw new Error('loadtest: the activator bench needs nginx for its pods (apt-get install -y nginx)')
  const haproxyVersion = flags['no-haproxy'] ? null : hasBinary('haproxy', ['-v'])
  const useWrk = !flags['no-wrk'] && hasWrk()
  const wrkVersion = useWrk ? hasBinary('wrk', ['-v']) : null

  const pods = await startNginx(group, dir, podCount)
  log(`pods: ${pods.label} on ${endpointsOf(pods).join(' ')}`)

  const sluiceRef = flags['sluice-ref'] ?? null
  const sluiceBin = sluiceRef === null ? undefined : exportSluiceRef(sluiceRef, dir)
  const sluiceVersion = describeSluiceVersion(sluiceRef)
  log(`sluice: ${sluiceVersion}`)

  const closedLoop = (port: number, seconds: number): Promise<LoadResult> => {
    const url = `http://${HOST}:${port}/`
    return useWrk
      ? runWrk(group, { url, connections, threads: 1, durationS: seconds, headers: ROUTING_LINES })
      : runAutocannon(group, { url, connections, durationS: seconds, overallRate: null, headers: ROUTING_LINES })
  }

  if (flags.profile) {
    const profDir = join(dir, 'prof')
    mkdirSync(profDir)
    const a = await startBenchActivator(group, dir, 'activator', pods, sluiceBin, [...activatorNodeArgs, '--cpu-prof', `--cpu-prof-dir=${profDir}`])
    const target: BenchTarget = { name: 'activator', description: a.command, server: a, proxyPid: a.child.pid }
    log(`profiling ${a.command}`)
    await closedLoop(a.port, warmupS)
    const r = await measured(target, pods.child.pid, 1, 'closed', () => closedLoop(a.port, durationS))
    log(describeRun(r))
    // SIGTERM with --drain-seconds 0: the activator exits on its own, and Node writes the profile at exit.
    await group.stop(a.child)
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file === undefined) throw new Error('loadtest: the activator wrote no .cpuprofile (did it exit cleanly?)')
    const summary = formatProfileSummary(summariseProfile(join(profDir, file), 30))
    if (!flags['no-write']) {
      const stamp = fileStamp(new Date())
      mkdirSync(RESULTS_DIR, { recursive: true })
      const out = join(RESULTS_DIR, `activator-profile-${stamp}.md`)
      writeFileSync(out, `# Sluice activator CPU profile (${stamp})\n\nSluice: ${sluiceVersion}. ${podCount} pods x CC=${cc}, \`${r.load.command.replace(/:\d+\//, ':<port>/')}\`.\n\n${describeRun(r).trim()}\n\n${summary}`)
      log(`wrote ${out}`)
    }
    process.stdout.write(summary)
    return
  }

  const targets: BenchTarget[] = []
  let activator: RunningActivator | null = null
  if (doThroughput) {
    targets.push({ name: 'direct', description: `nginx pod port ${pods.port}, no proxy`, server: pods, proxyPid: null })
    activator = await startBenchActivator(group, dir, 'activator', pods, sluiceBin, activatorNodeArgs)
    targets.push({ name: 'activator', description: `Sluice activator, ${podCount} endpoints x containerConcurrency ${cc}`, server: activator, proxyPid: activator.child.pid })
    for (const ref of flags['also-ref']) {
      // A directory with bin/sluice (a patched copy for an experiment) is used as it is.
      const isDir = existsSync(join(ref, 'bin', 'sluice'))
      const bin = isDir ? join(ref, 'bin', 'sluice') : exportSluiceRef(ref, dir)
      const name = `activator@${isDir ? basename(ref) : ref}`
      const a = await startBenchActivator(group, dir, name.replace(/[^A-Za-z0-9._-]/g, '_'), pods, bin, activatorNodeArgs)
      targets.push({ name, description: `Sluice activator at ${isDir ? ref : describeSluiceVersion(ref)}`, server: a, proxyPid: a.child.pid })
    }
    if (!flags['no-baseline']) {
      const b = await startNodeBaseline(group, dir, pods.port, podCount * cc, activatorNodeArgs)
      targets.push({ name: 'node-baseline', description: `node:http + undici Pool.dispatch (${podCount * cc} connections to one pod port), no Sluice features`, server: b, proxyPid: b.child.pid })
    }
    if (haproxyVersion !== null) {
      const h = await startHaproxy(group, dir, pods.ports, cc)
      targets.push({ name: 'haproxy', description: `HAProxy nbthread 1, ${podCount} servers maxconn ${cc}`, server: h, proxyPid: h.child.pid })
    }
    if (replicas >= 2) {
      const set = await startReplicaSet(group, dir, pods, sluiceBin, activatorNodeArgs)
      const [first, ...rest] = set
      if (first !== undefined) {
        targets.push({
          name: replicaTarget, description: `${replicas} Sluice activators on one port (--reuse-port), --activator-count ${replicas}, index 0..${replicas - 1}`,
          server: { ...first, command: set.map((a) => a.command).join(' & ') }, proxyPid: first.child.pid, extraPids: rest.map((a) => a.child.pid),
        })
      }
      if (haproxyVersion !== null) {
        const h = await startHaproxy(group, dir, pods.ports, cc, replicas)
        targets.push({ name: haproxyThreadsTarget, description: `HAProxy nbthread ${replicas}, ${podCount} servers maxconn ${cc}`, server: h, proxyPid: h.child.pid })
      }
    }
    log(`targets: ${targets.map((t) => `${t.name}=:${t.server.port}`).join(' ')}`)
  }

  if (flags.serve !== undefined) {
    const serveS = Number(flags.serve)
    for (const t of targets) log(`${t.name.padEnd(12)} http://${HOST}:${t.server.port}/  pid ${t.proxyPid ?? pods.child.pid}`)
    if (activator !== null) log(`activator admin http://${HOST}:${activator.adminPort}/revisions  metrics http://${HOST}:${activator.metricsPort}/metrics`)
    log(`requests need: ${ROUTING_LINES.map((h) => `-H '${h}'`).join(' ')}`)
    log(`serving for ${serveS} s (Ctrl-C stops everything)`)
    await sleep(serveS * 1000)
    return
  }

  const runs: RunRecord[] = []
  const background: QuietWait[] = []
  if (doThroughput) {
    log(`warm-up: ${warmupS} s per target`)
    for (const t of targets) await closedLoop(t.server.port, warmupS)
    for (let round = 1; round <= rounds; round++) {
      const quiet = await waitForQuiet(round, waitIdlePct, waitIdleMaxS)
      background.push(quiet)
      log(`round ${round}/${rounds} (background CPU ${quiet.busyPct.toFixed(0)}% of the machine after ${quiet.waitedS} s, loadavg ${quiet.loadavg1.toFixed(2)})`)
      // Rotate the order each round so no target always runs first (or right after the same neighbour).
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]).filter((t): t is BenchTarget => t !== undefined)
      for (const t of order) {
        const r = await measured(t, pods.child.pid, round, 'closed', () => closedLoop(t.server.port, durationS))
        runs.push(r)
        log(describeRun(r))
      }
      for (const t of order) {
        const r = await measured(t, pods.child.pid, round, 'paced', () => runPaced(group, { host: HOST, port: t.server.port, rate: openRate, durationS: openDurationS, connections, headers: ROUTING_LINES }))
        runs.push(r)
        log(describeRun(r))
      }
    }
    if (!flags['no-autocannon-rate']) {
      for (const t of targets) {
        const r = await measured(t, pods.child.pid, 0, 'autocannon-rate', () => runAutocannon(group, { url: `http://${HOST}:${t.server.port}/`, connections, durationS: openDurationS, overallRate: openRate, headers: ROUTING_LINES }))
        runs.push(r)
        log(describeRun(r))
      }
    }
  }
  const summaries: TargetSummary[] = withRatios(targets.map((t) => summariseTarget(
    t.name, t.description, runs,
    t.proxyPid === null ? null : peakRssKb(proxyProcesses(t)),
    openRate,
  )))
  const podsPeakRssMb = peakRssKb(processTree(pods.child.pid)) / 1024
  // The throughput activator is done: stop it so the cold-start one has the machine to itself.
  if (activator !== null) await group.stop(activator.child)

  let coldStarts: ColdStartSample[] = []
  let coldQuiet: QuietWait | null = null
  let coldCommand = ''
  if (doColdStart) {
    coldQuiet = await waitForQuiet(0, waitIdlePct, waitIdleMaxS)
    const a = await startActivator(group, dir, 'activator-cold', { bin: sluiceBin, nodeArgs: activatorNodeArgs })
    coldCommand = a.command
    log(`cold starts: ${coldRepeats} x ${coldRequests} buffered requests, revision ${NAMESPACE}/${COLD_REVISION} on a fresh activator (background CPU ${coldQuiet.busyPct.toFixed(0)}%)`)
    coldStarts = await runColdStarts({
      activator: a, namespace: NAMESPACE, name: COLD_REVISION, endpoints: endpointsOf(pods), containerConcurrency: cc,
      buffered: coldRequests, repeats: coldRepeats, settleMs: coldSettleMs,
    }, (s) => { log(`  cold start ${s.repeat}: ready->forward ${fmtMs(s.readyToForwardMs)} ms (activator), PUT->first response ${fmtMs(s.putToFirstResponseMs)} ms, PUT answered->first response ${fmtMs(s.putDoneToFirstResponseMs)} ms, PUT->all ${fmtMs(s.putToAllResponsesMs)} ms, ${s.ok}/${s.buffered} ok`) })
    await group.stop(a.child)
  }

  const now = new Date()
  const stamp = fileStamp(now)
  const activatorSummary = summaries.find((s) => s.target === 'activator') ?? null
  const report: Report = {
    date: now.toISOString(),
    command: `npm run bench:activator -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    sluice: sluiceVersion,
    tools: { loadGenerator: useWrk ? wrkVersion : 'autocannon 9 (wrk not installed or --no-wrk)', nginx: nginxVersion, haproxy: haproxyVersion },
    settings: { durationS, rounds, warmupS, openDurationS, openRate, connections, pods: podCount, containerConcurrency: cc, coldRepeats, coldRequests, coldSettleMs, activatorNodeArgs, waitIdlePct, waitIdleMaxS },
    commands: {
      pods: pods.command.replaceAll(dir, '<tmp>'),
      revision: `PUT http://127.0.0.1:<admin-port>/revisions/${NAMESPACE}/${REVISION} ${JSON.stringify({ containerConcurrency: cc, endpoints: pods.ports.map((_, i) => `127.0.0.1:<pod${i + 1}>`) })}`,
      targets: Object.fromEntries(targets.map((t) => [t.name, t.server === pods ? `(direct: pod port ${pods.port})` : t.server.command.replaceAll(dir, '<tmp>')])),
      closedLoop: (runs.find((r) => r.kind === 'closed')?.load.command ?? '').replace(/:\d+\//, ':<port>/'),
      openLoop: (runs.find((r) => r.kind === 'paced')?.load.command ?? '').replace(/ \d+ (\d+ \d+ \d+)/, ' <port> $1'),
      autocannonRate: (runs.find((r) => r.kind === 'autocannon-rate')?.load.command ?? '').replace(/:\d+\//, ':<port>/'),
      coldStartActivator: coldCommand,
    },
    background,
    podsPeakRssMb,
    summaries,
    quiet: {
      maxOtherCorePct: quietOtherPct,
      figures: targets.map((t) => quietFigures(runs, t.name, quietOtherPct)),
      activatorVsHaproxy: quietPairedRatio(runs, 'activator', 'haproxy', quietOtherPct),
      activatorVsBaseline: quietPairedRatio(runs, 'activator', 'node-baseline', quietOtherPct),
      replicasVsHaproxyBest: quietPairedRatio(runs, replicaTarget, ['haproxy', haproxyThreadsTarget], quietOtherPct),
    },
    checks: [],
    coldStartQuiet: coldQuiet,
    coldStarts,
    runs,
  }
  report.checks = checks(activatorSummary, report.quiet, coldStarts, summaries)
  const md = renderMarkdown(report)
  process.stdout.write('\n' + md)
  if (flags['no-write']) return
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `activator-${stamp}.json`), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(RESULTS_DIR, `activator-${stamp}.md`), md)
  log(`wrote loadtest/results/activator-${stamp}.json and .md`)
}

interface QuietReport {
  readonly maxOtherCorePct: number
  readonly figures: QuietFigures[]
  readonly activatorVsHaproxy: { ratio: number, rounds: number }
  readonly activatorVsBaseline: { ratio: number, rounds: number }
  /** activator-xN / the better of haproxy and haproxy-Nt in each round. */
  readonly replicasVsHaproxyBest: { ratio: number, rounds: number }
}

interface Check {
  readonly what: string
  readonly target: string
  /** All rounds (the table's medians). */
  readonly value: string
  readonly pass: boolean | null
  /** Quiet runs only; '-' when there were none. */
  readonly quietValue: string
  readonly quietPass: boolean | null
}

function verdict (v: number, ok: (x: number) => boolean): boolean | null {
  return Number.isFinite(v) ? ok(v) : null
}

function checks (a: TargetSummary | null, quiet: QuietReport, cold: readonly ColdStartSample[], summaries: readonly TargetSummary[]): Check[] {
  const out: Check[] = []
  const atLeast = (x: number): boolean => x >= TARGET_RATIO_VS_HAPROXY
  if (a !== null) {
    const ratio = a.ratioVsHaproxy ?? Number.NaN
    const qRatio = quiet.activatorVsHaproxy
    out.push({
      what: 'throughput vs HAProxy, one core each (activator vs nbthread 1; closed loop, paired by round)', target: `>= ${TARGET_RATIO_VS_HAPROXY}x`,
      value: Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-', pass: verdict(ratio, atLeast),
      quietValue: Number.isFinite(qRatio.ratio) ? `${qRatio.ratio.toFixed(2)}x (${qRatio.rounds} rounds)` : '-', quietPass: verdict(qRatio.ratio, atLeast),
    })
  }
  const xs = summaries.find((s) => s.target === replicaTarget)
  const hs = summaries.filter((s) => s.target === 'haproxy' || s.target === haproxyThreadsTarget)
  if (xs !== undefined && hs.length === 2) {
    const ratio = pairedRatio(xs, hs)
    const qRatio = quiet.replicasVsHaproxyBest
    out.push({
      what: `throughput vs HAProxy, every core (${replicaTarget} vs the better of nbthread 1 and ${replicas} in each round; closed loop)`, target: `>= ${TARGET_RATIO_VS_HAPROXY}x`,
      value: Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-', pass: verdict(ratio, atLeast),
      quietValue: Number.isFinite(qRatio.ratio) ? `${qRatio.ratio.toFixed(2)}x (${qRatio.rounds} rounds)` : '-', quietPass: verdict(qRatio.ratio, atLeast),
    })
  }
  if (a !== null) {
    const q = quiet.figures.find((f) => f.target === 'activator') ?? null
    const cpu = a.proxyCpuUsPerReq ?? Number.NaN
    const qCpu = q?.cpuUsPerReq ?? Number.NaN
    const cpuOk = (x: number): boolean => x <= TARGET_CPU_US_PER_REQ
    out.push({
      what: 'activator CPU per request (closed loop)', target: `<= ${TARGET_CPU_US_PER_REQ} us`,
      value: Number.isFinite(cpu) ? `${cpu.toFixed(1)} us` : '-', pass: verdict(cpu, cpuOk),
      quietValue: Number.isFinite(qCpu) ? `${qCpu.toFixed(1)} us (${q?.closedRuns ?? 0} runs)` : '-', quietPass: verdict(qCpu, cpuOk),
    })
    const p99 = a.paced === null ? Number.NaN : a.paced.latencyUs.p99 / 1000
    const qP99 = q?.pacedLatencyUs === null || q === null ? Number.NaN : q.pacedLatencyUs.p99 / 1000
    const p99Ok = (x: number): boolean => x <= TARGET_OPEN_P99_MS
    out.push({
      what: `open-loop p99 at ${a.paced?.rate ?? '-'} req/s`, target: `<= ${TARGET_OPEN_P99_MS} ms`,
      value: Number.isFinite(p99) ? `${fmtMs(p99)} ms` : '-', pass: verdict(p99, p99Ok),
      quietValue: Number.isFinite(qP99) ? `${fmtMs(qP99)} ms (${q?.pacedRuns ?? 0} runs)` : '-', quietPass: verdict(qP99, p99Ok),
    })
  }
  const r2f = cold.map((s) => s.readyToForwardMs).filter((v) => Number.isFinite(v))
  if (cold.length > 0) {
    const max = r2f.length === 0 ? Number.NaN : Math.max(...r2f)
    out.push({
      what: `cold start: probe success -> first buffered request forwarded (activator metric, ${r2f.length} cold starts)`, target: `<= ${TARGET_READY_TO_FORWARD_MS} ms`,
      value: `median ${fmtMs(median(r2f))} ms, max ${fmtMs(max)} ms`, pass: r2f.length === cold.length && max <= TARGET_READY_TO_FORWARD_MS,
      quietValue: '-', quietPass: null,
    })
  }
  return out
}

interface Report {
  date: string
  command: string
  machine: MachineInfo
  sluice: string
  tools: { loadGenerator: string | null, nginx: string | null, haproxy: string | null }
  settings: { durationS: number, rounds: number, warmupS: number, openDurationS: number, openRate: number, connections: number, pods: number, containerConcurrency: number, coldRepeats: number, coldRequests: number, coldSettleMs: number, activatorNodeArgs: string[], waitIdlePct: number, waitIdleMaxS: number }
  commands: { pods: string, revision: string, targets: Record<string, string>, closedLoop: string, openLoop: string, autocannonRate: string, coldStartActivator: string }
  background: QuietWait[]
  podsPeakRssMb: number
  summaries: TargetSummary[]
  quiet: QuietReport
  checks: Check[]
  coldStartQuiet: QuietWait | null
  coldStarts: ColdStartSample[]
  runs: RunRecord[]
}

function fmtMs (v: number): string {
  return Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : '-'
}

function renderMarkdown (r: Report): string {
  const s = r.settings
  const lines = [
    `# Sluice activator load test, ${r.date.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `\`${r.command}\` on Node ${r.machine.node}, ${r.machine.cpuModel}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB, Linux ${r.machine.kernel}.`,
    `Sluice: ${r.sluice}.`,
    `Load: ${r.tools.loadGenerator ?? '-'}; pods: ${r.tools.nginx ?? '-'}; HAProxy: ${r.tools.haproxy ?? 'not installed'}.`,
    `${s.pods} pods (one nginx worker, ${s.pods} ports), containerConcurrency ${s.containerConcurrency} each (capacity ${s.pods * s.containerConcurrency}). Every request carries \`${ROUTING_LINES.join('`, `')}\`.`,
  ]
  if (r.summaries.length > 0) {
    lines.push(
      `${s.rounds} interleaved round(s) x ${s.durationS} s closed loop (${s.connections} connections) per target after ${s.warmupS} s warm-up; open loop ${s.openRate} req/s for ${s.openDurationS} s per target per round.`,
      '',
      markdownTable(r.summaries).trimEnd(),
      '',
      'Columns as in the sidecar table (loadtest/README.md): req/s median over rounds (min-max); vs direct / vs HAProxy =',
      'median over rounds of the ratio within each round; closed-loop latencies are medians over rounds; CPU us/req =',
      'utime+stime of the proxy\'s processes over the closed-loop runs / requests; peak RSS = VmHWM at the end;',
      `open loop = paced client, ${s.openRate} req/s evenly spaced over ${s.connections} connections.`,
      `\`direct\` is wrk against one pod port: the ${s.pods} ports are one nginx worker, so one port is the upstream's whole ceiling.`,
      '`node-baseline` (when present) is node:http + undici `Pool.dispatch` and nothing else: the floor of this design on Node, same run.',
      '`activator-xN` (when present) is N activator processes sharing the port (`--reuse-port`), each with `--activator-count N --activator-index i` (its own slice of the pods at full CC; the kernel spreads client connections); `haproxy-Nt` is HAProxy with nbthread N: both proxies on every core. Their CPU and RSS are the sums over the N processes.',
    )
    const a = r.summaries.find((x) => x.target === 'activator')
    if (a?.paced?.proxyCpuUsPerReq !== undefined && a.paced.proxyCpuUsPerReq !== null) {
      lines.push(`Activator CPU at the open-loop rate (${s.openRate} req/s, not saturated): ${a.paced.proxyCpuUsPerReq.toFixed(1)} us/req.`)
    }
  }
  const mark = (p: boolean | null): string => p === null ? '-' : p ? 'pass' : '**miss**'
  if (r.checks.length > 0) {
    lines.push('', `**Issue 5 targets** (all rounds, and quiet runs only: other processes <= ${r.quiet.maxOtherCorePct}% of a core during the run)`, '',
      '| figure | target | all rounds | | quiet runs | |', '|---|---|---|---|---|---|')
    for (const c of r.checks) lines.push(`| ${c.what} | ${c.target} | ${c.value} | ${mark(c.pass)} | ${c.quietValue} | ${mark(c.quietPass)} |`)
  }
  if (r.quiet.figures.length > 0) {
    lines.push('', `**Quiet runs only** (other processes <= ${r.quiet.maxOtherCorePct}% of a core during the run; medians):`, '',
      '| target | quiet closed runs | req/s | CPU us/req | quiet open-loop runs | open-loop p50 / p99 / p99.9 ms |', '|---|---:|---:|---:|---:|---:|')
    for (const f of r.quiet.figures) {
      const l = f.pacedLatencyUs
      lines.push(`| ${f.target} | ${f.closedRuns} | ${Number.isFinite(f.reqPerSec) ? Math.round(f.reqPerSec).toLocaleString('en-US') : '-'} | ${f.cpuUsPerReq === null ? '-' : f.cpuUsPerReq.toFixed(1)} | ${f.pacedRuns} | ${l === null ? '-' : `${fmtMs(l.p50 / 1000)} / ${fmtMs(l.p99 / 1000)} / ${fmtMs(l.p999 / 1000)}`} |`)
    }
    const vh = r.quiet.activatorVsHaproxy
    const vb = r.quiet.activatorVsBaseline
    lines.push('', `Activator / HAProxy in rounds where both closed-loop runs were quiet: ${Number.isFinite(vh.ratio) ? vh.ratio.toFixed(2) : '-'} (${vh.rounds} rounds); activator / node-baseline: ${Number.isFinite(vb.ratio) ? vb.ratio.toFixed(2) : '-'} (${vb.rounds} rounds).`)
  }
  if (r.coldStarts.length > 0) {
    const col = (pick: (x: ColdStartSample) => number): string => {
      const v = r.coldStarts.map(pick).filter((x) => Number.isFinite(x))
      return `${fmtMs(median(v))} / ${fmtMs(v.length === 0 ? Number.NaN : Math.max(...v))}`
    }
    lines.push(
      '',
      `**Cold starts** (${r.coldStarts.length} on a fresh activator, revision \`${NAMESPACE}/${COLD_REVISION}\`: PUT with no endpoints, ${s.coldRequests} requests buffered on their own connections, ${s.coldSettleMs} ms later PUT the ${s.pods} endpoints; background CPU before: ${r.coldStartQuiet === null ? '-' : `${r.coldStartQuiet.busyPct.toFixed(0)}%`}). Median / max, ms:`,
      '',
      '| probe success -> first forwarded (activator) | first buffered -> first forwarded (activator) | PUT sent -> first response (client) | PUT answered -> first response (client) | PUT sent -> all responses (client) | answered 200 |',
      '|---:|---:|---:|---:|---:|---:|',
      `| ${col((x) => x.readyToForwardMs)} | ${col((x) => x.coldStartMs)} | ${col((x) => x.putToFirstResponseMs)} | ${col((x) => x.putDoneToFirstResponseMs)} | ${col((x) => x.putToAllResponsesMs)} | ${r.coldStarts.reduce((n, x) => n + x.ok, 0)} / ${r.coldStarts.reduce((n, x) => n + x.buffered, 0)} |`,
      '',
      `Per cold start (ready->forward ms): ${r.coldStarts.map((x) => fmtMs(x.readyToForwardMs)).join(', ')}; PUT->first response ms: ${r.coldStarts.map((x) => fmtMs(x.putToFirstResponseMs)).join(', ')}. The first is the fresh process's first cold start (cold JIT).`,
      'The activator\'s figures come from /metrics (`sluice_activator_last_ready_to_forward_seconds`, increase of `sluice_activator_cold_start_seconds_sum`);',
      'first buffered -> first forwarded includes the settle wait. The client\'s include the admin API call, the probe round trip and the upstream response.',
    )
  }
  const otherPct = otherCpuPct(r.runs, r.machine.cores)
  const direct = r.summaries.find((x) => x.target === 'direct')
  lines.push('', `Pods: ${r.commands.pods}; nginx CPU in the direct run ${direct === undefined ? '-' : direct.upstreamCpuUsPerReq.toFixed(1)} us/req; peak RSS ${r.podsPeakRssMb.toFixed(1)} MB.`)
  if (r.background.length > 0) {
    lines.push('', `Noise: background CPU before each round (nothing of ours running): ${r.background.map((b) => `${b.busyPct.toFixed(0)}%${b.waitedS > 1 ? ` (after waiting ${b.waitedS} s)` : ''}`).join(', ')} of the machine; CPU of other processes during the closed-loop runs: median ${median(otherPct).toFixed(0)}%, max ${otherPct.length === 0 ? '-' : Math.max(...otherPct).toFixed(0)}% of the machine.`)
  }
  lines.push('', 'Commands:', '', `- revision: \`${r.commands.revision}\``)
  if (r.commands.closedLoop !== '') lines.push(`- closed loop: \`${r.commands.closedLoop}\``)
  if (r.commands.openLoop !== '') lines.push(`- open loop: \`${r.commands.openLoop}\``)
  if (r.commands.autocannonRate !== '') lines.push(`- autocannon rate: \`${r.commands.autocannonRate}\``)
  for (const [name, cmd] of Object.entries(r.commands.targets)) lines.push(`- ${name}: \`${cmd}\``)
  if (r.commands.coldStartActivator !== '') lines.push(`- cold-start activator: \`${r.commands.coldStartActivator}\``)
  return lines.join('\n') + '\n'
}

main().catch((err: unknown) => {
  process.stderr.write(`loadtest: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})

// Cold path and footprint (issue 12). `npm run bench:cold [-- flags]`.
//
// Spawn-to-ready, interleaved over --rounds rounds (rotating the order), each a fresh process against a
// ready nginx upstream: "ready" = a kubelet probe answered 200 and then a user request answered 200,
// timed from just before spawn() (harness/spawn-ready.ts). Targets:
//   node-floor        Node's floor: a bare `net` server answering every read with a 200 (`node -e`, no file,
//                     no type stripping): what any Node process costs before it runs a line of Sluice
//   sluice-image      the image form: `npm run build` output staged as the Dockerfile's sidecar target lays
//                     it out (dist/, bin/, package.json, no src/), with the target's ENV (NODE_ENV, NODE_COMPILE_CACHE
//                     warmed as its `RUN sluice sidecar --help` does) and node flags (SLUICE_NODE_FLAGS, as
//                     bin/image-entry.sh passes them)
//   sluice-image-nocache  the same without its compile cache (NODE_DISABLE_COMPILE_CACHE=1)
//   sluice-checkout   the checkout form: bin/sluice sidecar from this working tree (type stripping), its
//                     compile cache warm (bin/sluice enables Node's compile cache; a second `npm start`)
//   sluice-checkout-nocache  the checkout form with no compile cache: type stripping on every start
//   knative-queue     Knative's queue-proxy (Go), when built (/work/shared/tools/build-knative-queue.sh)
//   sluice-image@REF  --also-ref REF: the image form of a commit, for before/after in the same run
// Idle RSS: VmRSS --idle-ms after ready. Then --load-rounds rounds of wrk -t1 -c50 (CC=10, nginx upstream)
// per proxy on a fresh process, with `direct` (wrk at nginx) in each round: req/s, the ratio to direct
// paired by round, peak RSS (VmHWM at the end of the run), errors. Then, with --activator (default on),
// the activator's image form and HAProxy (nbthread 1, maxconn 10) idle and under the same load.
// Results: loadtest/results/cold-<stamp>.json and .md. Loopback only; every child runs
// in its own process group and is killed on exit.

import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { describeSluiceVersion, fileStamp, gitHead, log, machineInfo, sleep } from './harness/bench-run.ts'
import { median } from './harness/bench-summary.ts'
import { ChildGroup, type StartedChild } from './harness/child-group.ts'
import { rssMb, spawnUntilReady } from './harness/spawn-ready.ts'
import { freePort, hasBinary, HOST, httpCall, startActivator, startHaproxy, startNginx } from './harness/targets.ts'
import { runWrk } from './harness/wrk-runner.ts'

const REPO = fileURLToPath(new URL('../', import.meta.url))
const RESULTS_DIR = join(REPO, 'loadtest', 'results')
const KNATIVE_QUEUE = '/tmp/knative-queue'

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'load-rounds': { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    'idle-ms': { type: 'string', default: '1500' },
    'also-ref': { type: 'string', multiple: true, default: [] },
    'sluice-ref': { type: 'string' },
    'knative-queue': { type: 'string', default: KNATIVE_QUEUE },
    'no-load': { type: 'boolean', default: false },
    'no-activator': { type: 'boolean', default: false },
    'activator-rounds': { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

const USAGE = `npm run bench:cold -- [flags]
  --rounds N          spawn-to-ready rounds, targets interleaved (default 7)
  --load-rounds N     wrk rounds per proxy, each on a fresh process (default 3)
  --duration S        seconds per wrk run (default 8)
  --idle-ms MS        idle RSS is read this long after ready (default 1500)
  --sluice-ref REF    measure REF (a commit) as the image and checkout forms instead of the working tree,
                      which other engineers may be editing
  --also-ref REF      also the image form of REF (a commit), for before/after (repeatable)
  --knative-queue P   Knative's queue-proxy binary (default ${KNATIVE_QUEUE}; left out when missing)
  --no-load           spawn-to-ready and idle RSS only
  --no-activator      leave out the activator / HAProxy footprint
  --activator-rounds N  rounds of the activator footprint (each --also-ref's activator too, and HAProxy), interleaved (default 3)
  --quick             3 rounds, 1 load round of 3 s
  --no-write          print only
`
if (flags.help) { process.stdout.write(USAGE); process.exit(0) }

const rounds = flags.quick ? 3 : Number(flags.rounds)
const loadRounds = flags.quick ? 1 : Number(flags['load-rounds'])
const activatorRounds = flags.quick ? 1 : Number(flags['activator-rounds'])
const durationS = flags.quick ? 3 : Number(flags.duration)
const idleMs = Number(flags['idle-ms'])
const CC = 10
const CONNECTIONS = 50

/** The response of Node's floor: any read gets it, no parsing. */
const FLOOR_JS = "const b=Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nqueue');require('net').createServer((s)=>{s.on('data',()=>{s.write(b)});s.on('error',()=>{})}).listen(+process.argv[1],'127.0.0.1')"

/** `ENV NAME=value` lines of the Dockerfile stage `target` and the stages it is built FROM (base first). */
export function dockerStageEnv (dockerfile: string, target: string): Record<string, string> {
  const stages = new Map<string, { from: string, env: Record<string, string> }>()
  let current: { from: string, env: Record<string, string> } | null = null
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim()
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from !== null) {
      current = { from: from[1] ?? '', env: {} }
      if (from[2] !== undefined) stages.set(from[2], current)
      continue
    }
    const env = /^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (env !== null && current !== null) current.env[env[1] ?? ''] = (env[2] ?? '').replace(/^"(.*)"$/, '$1')
  }
  const chain: Array<Record<string, string>> = []
  for (let s = stages.get(target); s !== undefined; s = stages.get(s.from)) chain.unshift(s.env)
  return Object.assign({}, ...chain) as Record<string, string>
}

/**
 * The Dockerfile's compile-cache warm-up (`RUN sluice sidecar --help`, run with the target's env): the
 * cache goes to `<out>/.compile-cache` instead of the image's path. Returns the env to run with.
 */
function warmCompileCache (out: string, stageEnv: Record<string, string>, mode: 'sidecar' | 'activator' = 'sidecar'): Record<string, string> {
  const env = stagedPaths(out, stageEnv)
  if (env.NODE_COMPILE_CACHE === undefined) return env
  const warmed = { ...env, NODE_COMPILE_CACHE: join(out, mode === 'sidecar' ? '.compile-cache' : `.compile-cache-${mode}`) }
  execFileSync(process.execPath, [...entryFlags(env), join(out, 'bin', 'sluice'), mode, '--help'], { cwd: out, stdio: 'ignore', env: { ...process.env, ...warmed } })
  return warmed
}

/**
 * The env's other paths in the image (its WORKDIR, /app: SLUICE_MALLOC_TRIM_ADDON=/app/native/...)
 * point into the staged `out` instead, where stageImageForm put the same files.
 */
function stagedPaths (out: string, env: Record<string, string>): Record<string, string> {
  const staged: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) staged[k] = k !== 'NODE_COMPILE_CACHE' && v.startsWith('/app/') ? join(out, v.slice('/app/'.length)) : v
  return staged
}

/** The activator as the Dockerfile's `activator` target runs it: that stage's ENV, node flags and warmed compile cache (an older tree without the stage: NODE_ENV only). */
interface ActivatorTarget { name: string, description: string, bin: string, cwd: string, env: Record<string, string> }

function activatorTarget (name: string, stage: string, tree: string, description: string): ActivatorTarget {
  const dockerfile = join(tree, 'Dockerfile')
  const stageEnv = existsSync(dockerfile) && /^FROM\s+\S+\s+AS\s+activator\s*$/im.test(readFileSync(dockerfile, 'utf8'))
    ? dockerStageEnv(readFileSync(dockerfile, 'utf8'), 'activator')
    : { NODE_ENV: 'production' }
  const env = warmCompileCache(stage, stageEnv, 'activator')
  return { name, description: `${description}, ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`, bin: join(stage, 'bin', 'sluice'), cwd: stage, env }
}

/** Stages the image form of the tree at `root` in `out` (npm run build's output + bin + package.json). */
function stageImageForm (root: string, out: string): void {
  mkdirSync(out, { recursive: true })
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), join(out, 'dist')], {
    cwd: root, stdio: 'inherit', env: { ...process.env, PATH: `${join(REPO, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
  })
  // A commit from before build.mjs took OUT_DIR builds into its own dist/.
  if (!existsSync(join(out, 'dist'))) cpSync(join(root, 'dist'), join(out, 'dist'), { recursive: true })
  cpSync(join(root, 'bin'), join(out, 'bin'), { recursive: true })
  cpSync(join(root, 'package.json'), join(out, 'package.json'))
  // The idle reclaimer's malloc_trim addon, as the Dockerfile's native stage builds it into /app/native
  // (a tree from before it has no build-native.mjs; its Dockerfile names no addon).
  const buildNative = join(root, 'scripts', 'build-native.mjs')
  if (existsSync(buildNative)) execFileSync(process.execPath, [buildNative, join(out, 'native')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  // The checkout's node_modules: what the sidecar must not load is proven absent by
  // test/cli/lazy-loading.test.ts, and its size is counted by the report below, not here.
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'))
}

/**
 * stageImageForm for an --also-ref tree. A commit from before a package left package.json (as
 * @kubernetes/client-node did in a3da93d) no longer type-checks against this checkout's node_modules,
 * so its build stops at tsc; then it is built again with `tsc --noCheck` (its build script patched in
 * the exported copy). The emitted JavaScript is the same, and the sidecar never loads the modules that
 * imported the package (test/cli/lazy-loading.test.ts at those commits).
 */
function stageRefImageForm (root: string, out: string): void {
  try {
    stageImageForm(root, out)
  } catch (err) {
    const script = join(root, 'scripts', 'build.mjs')
    const text = readFileSync(script, 'utf8')
    const patched = text.replace("'-p', 'tsconfig.build.json'", "'-p', 'tsconfig.build.json', '--noCheck'")
    if (patched === text) throw err
    log(`loadtest: ${root} does not type-check against this checkout's node_modules; building it with tsc --noCheck`)
    writeFileSync(script, patched)
    stageImageForm(root, out)
  }
}

/** A commit's tree (bin, src, scripts, tsconfigs, package.json) in `out`. */
function exportRef (ref: string, out: string): void {
  mkdirSync(out, { recursive: true })
  const tar = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', ref, 'bin', 'src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'Dockerfile'], { maxBuffer: 256 * 2 ** 20 })
  execFileSync('tar', ['-x', '-C', out], { input: tar })
}

interface SpawnTarget {
  name: string
  description: string
  /** Command for one start on the given ports. */
  command (ports: Ports): { file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string }
}

interface Ports { serving: number, admin: number, metrics: number }

interface SpawnSample { target: string, round: number, probeOkMs: number, readyMs: number, idleRssMb: number, idleAnonMb: number, startHwmMb: number }
interface LoadSample { target: string, round: number, reqPerSec: number, ratioToDirect: number | null, peakRssMb: number | null, endAnonMb: number | null, errors: number, non2xx: number, p99Ms: number }

function sidecarArgs (p: Ports, userPort: number): string[] {
  return [
    'sidecar', '--host', HOST, '--port', String(p.serving), '--admin-port', String(p.admin), '--metrics-port', String(p.metrics),
    '--user-port', String(userPort), '--container-concurrency', String(CC), '--drain-seconds', '0', '--log-level', 'warn',
  ]
}

/** Node flags as bin/image-entry.sh passes them: $SLUICE_NODE_FLAGS, one word per flag. */
function entryFlags (env: Record<string, string>): string[] {
  return (env.SLUICE_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '')
}

function imageTarget (name: string, stage: string, description: string, userPort: number, env: Record<string, string>): SpawnTarget {
  return {
    name,
    description,
    command: (p) => ({ file: process.execPath, args: [...entryFlags(env), join(stage, 'bin', 'sluice'), ...sidecarArgs(p, userPort)], env: { ...process.env, ...env }, cwd: stage }),
  }
}

async function portsFor (target: string): Promise<Ports> {
  // Knative's queue-proxy has its admin (8022) and metrics (9090) ports fixed.
  if (target === 'knative-queue') return { serving: await freePort(), admin: 8022, metrics: 9090 }
  return { serving: await freePort(), admin: await freePort(), metrics: await freePort() }
}

function portFree (port: number): boolean {
  try {
    execFileSync(process.execPath, ['-e', `require('net').createServer().once('error',()=>process.exit(1)).listen(${port},'127.0.0.1',function(){this.close()})`], { stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false
  }
}

function fmt (n: number | null, digits = 0): string { return n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits) }

async function main (): Promise<void> {
  const group = new ChildGroup()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cold-'))
  const stamp = fileStamp(new Date())
  const info = machineInfo()
  let isDone = false
  try {
    const nginx = await startNginx(group, dir, 1)
    log(`upstream: ${nginx.label} on ${nginx.port}`)
    // The tree measured: the working tree, or --sluice-ref's commit exported with the repo's node_modules.
    const sluiceRef = flags['sluice-ref'] ?? null
    const tree = sluiceRef === null ? REPO : join(dir, 'sluice-tree')
    if (sluiceRef !== null) {
      exportRef(sluiceRef, tree)
      symlinkSync(join(REPO, 'node_modules'), join(tree, 'node_modules'))
    }
    const dockerEnv = dockerStageEnv(readFileSync(join(tree, 'Dockerfile'), 'utf8'), 'sidecar')
    log(`staging the image form (npm run build output; env of the Dockerfile's sidecar target: ${JSON.stringify(dockerEnv)})`)
    stageImageForm(tree, join(dir, 'image'))
    const imageEnv = warmCompileCache(join(dir, 'image'), dockerEnv)
    const { NODE_COMPILE_CACHE: _imageCache, ...imageEnvNoCache } = imageEnv
    // The checkout form with its compile cache warm (bin/sluice enables it; a second `npm start`) and
    // without one (NODE_DISABLE_COMPILE_CACHE=1: every start strips types and parses, the first start).
    const checkoutCache = join(dir, 'checkout-compile-cache')
    execFileSync(process.execPath, [join(tree, 'bin', 'sluice'), 'sidecar', '--help'], { cwd: tree, stdio: 'ignore', env: { ...process.env, NODE_COMPILE_CACHE: checkoutCache } })
    const targets: SpawnTarget[] = [
      { name: 'node-floor', description: 'Node\'s floor: `node -e` net server answering every read with a 200', command: (p) => ({ file: process.execPath, args: ['-e', FLOOR_JS, String(p.serving)], env: process.env, cwd: dir }) },
      imageTarget('sluice-image', join(dir, 'image'), `image form: dist/ + bin/sluice sidecar, ${Object.entries(imageEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`, nginx.port, imageEnv),
      imageTarget('sluice-image-nocache', join(dir, 'image'), 'image form without its compile cache (NODE_DISABLE_COMPILE_CACHE=1)', nginx.port, { ...imageEnvNoCache, NODE_DISABLE_COMPILE_CACHE: '1' }),
      { name: 'sluice-checkout', description: 'checkout form: bin/sluice sidecar on src/ (type stripping), compile cache warm', command: (p) => ({ file: process.execPath, args: [join(tree, 'bin', 'sluice'), ...sidecarArgs(p, nginx.port)], env: { ...process.env, NODE_COMPILE_CACHE: checkoutCache }, cwd: tree }) },
      { name: 'sluice-checkout-nocache', description: 'checkout form without a compile cache (NODE_DISABLE_COMPILE_CACHE=1): type stripping on every start', command: (p) => ({ file: process.execPath, args: [join(tree, 'bin', 'sluice'), ...sidecarArgs(p, nginx.port)], env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' }, cwd: tree }) },
    ]
    for (const ref of flags['also-ref']) {
      const root = join(dir, `ref-${ref.replace(/[^A-Za-z0-9._-]/g, '_')}`)
      exportRef(ref, join(root, 'tree'))
      symlinkSync(join(REPO, 'node_modules'), join(root, 'tree', 'node_modules'))
      stageRefImageForm(join(root, 'tree'), join(root, 'image'))
      const refEnv = warmCompileCache(join(root, 'image'), existsSync(join(root, 'tree', 'Dockerfile')) ? dockerStageEnv(readFileSync(join(root, 'tree', 'Dockerfile'), 'utf8'), 'sidecar') : {})
      targets.push(imageTarget(`sluice-image@${ref}`, join(root, 'image'), `image form of ${ref} = ${gitHead(ref)}`, nginx.port, { NODE_ENV: 'production', ...refEnv }))
    }
    const kq = flags['knative-queue']
    if (existsSync(kq) && portFree(8022) && portFree(9090)) {
      targets.push({
        name: 'knative-queue',
        description: `Knative's queue-proxy (Go, ${kq}), CONTAINER_CONCURRENCY=${CC}`,
        command: (p) => ({
          file: kq,
          args: [],
          cwd: dir,
          env: {
            PATH: process.env.PATH, CONTAINER_CONCURRENCY: String(CC), QUEUE_SERVING_PORT: String(p.serving), QUEUE_SERVING_TLS_PORT: String(p.serving + 1),
            USER_PORT: String(nginx.port), REVISION_TIMEOUT_SECONDS: '300', SERVING_NAMESPACE: 'default', SERVING_CONFIGURATION: 'c', SERVING_REVISION: 'r',
            SERVING_POD: 'p', SERVING_POD_IP: HOST, SERVING_LOGGING_CONFIG: '', SERVING_LOGGING_LEVEL: 'error',
            SERVING_READINESS_PROBE: JSON.stringify({ tcpSocket: { port: nginx.port, host: HOST }, successThreshold: 1 }),
          },
        }),
      })
    } else {
      log(`knative-queue: left out (${existsSync(kq) ? 'port 8022 or 9090 in use' : `${kq} not built`})`)
    }

    // Warm the page cache and the compile cache paths once per target, unrecorded.
    const spawns: SpawnSample[] = []
    const commands = new Map<string, string>()
    for (let round = 0; round <= rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]).filter((t): t is SpawnTarget => t !== undefined)
      for (const t of order) {
        const ports = await portsFor(t.name)
        const cmd = t.command(ports)
        if (round === 0) commands.set(t.name, `${cmd.file} ${cmd.args.join(' ')}`.replace(dir, '$TMP'))
        const started = await spawnUntilReady(group, t.name, cmd.file, cmd.args, ports.serving, { env: cmd.env, cwd: cmd.cwd, logPath: join(dir, `${t.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${round}.log`) })
        const startHwm = rssMb(started.child.pid).hwmMb
        await sleep(idleMs)
        const idle = rssMb(started.child.pid)
        await group.stop(started.child)
        if (round === 0) continue
        spawns.push({ target: t.name, round, probeOkMs: started.probeOkMs, readyMs: started.readyMs, idleRssMb: idle.rssMb, idleAnonMb: idle.anonMb, startHwmMb: startHwm })
        log(`  round ${round} ${t.name.padEnd(24)} ready ${started.readyMs.toFixed(1).padStart(6)} ms (probe ok ${started.probeOkMs.toFixed(1)})  idle RSS ${idle.rssMb.toFixed(1)} MB (anon ${idle.anonMb.toFixed(1)})`)
      }
    }

    const loads: LoadSample[] = []
    // Throughput and peak RSS do not depend on how the process started: the cache-less forms sit out.
    const proxyTargets = targets.filter((t) => t.name !== 'node-floor' && !t.name.endsWith('-nocache'))
    if (!flags['no-load']) {
      for (let round = 1; round <= loadRounds; round++) {
        const order = ['direct', ...proxyTargets.map((t) => t.name)]
        const rotated = order.map((_, i) => order[(i + round) % order.length] ?? 'direct')
        const roundSamples: LoadSample[] = []
        for (const name of rotated) {
          const t = proxyTargets.find((x) => x.name === name)
          let child: StartedChild | null = null
          let port = nginx.port
          if (t !== undefined) {
            const ports = await portsFor(t.name)
            const cmd = t.command(ports)
            child = (await spawnUntilReady(group, t.name, cmd.file, cmd.args, ports.serving, { env: cmd.env, cwd: cmd.cwd, logPath: join(dir, `${t.name.replace(/[^A-Za-z0-9._-]/g, '_')}-load-${round}.log`) })).child
            port = ports.serving
          }
          const r = await runWrk(group, { url: `http://${HOST}:${port}/`, connections: CONNECTIONS, threads: 1, durationS })
          const end = child === null ? null : rssMb(child.pid)
          const peak = end === null ? null : end.hwmMb
          if (child !== null) await group.stop(child)
          const s: LoadSample = { target: name, round, reqPerSec: r.reqPerSec, ratioToDirect: null, peakRssMb: peak, endAnonMb: end === null ? null : end.anonMb, errors: r.errors, non2xx: r.non2xx, p99Ms: r.latencyUs.p99 / 1000 }
          roundSamples.push(s)
          log(`  load round ${round} ${name.padEnd(24)} ${Math.round(r.reqPerSec).toString().padStart(6)} req/s  p99 ${s.p99Ms.toFixed(2)} ms  peak RSS ${fmt(peak, 1)} MB  err ${r.errors}/${r.non2xx}`)
        }
        const direct = roundSamples.find((s) => s.target === 'direct')?.reqPerSec ?? Number.NaN
        for (const s of roundSamples) s.ratioToDirect = s.reqPerSec / direct
        loads.push(...roundSamples)
      }
    }

    interface FootprintSample { target: string, round: number, idleRssMb: number, idleAnonMb: number, peakRssMb: number, endAnonMb: number, reqPerSec: number, ratioToHaproxy: number | null, errors: number }
    const footprintSamples: FootprintSample[] = []
    const activators: ActivatorTarget[] = []
    const loadAvg: { before: number[], after: number[] } = { before: loadavg(), after: [] }
    if (!flags['no-activator'] && !flags['no-load']) {
      activators.push(activatorTarget('activator-image', join(dir, 'image'), tree, 'image form: dist/ + bin/sluice activator'))
      for (const ref of flags['also-ref']) {
        const root = join(dir, `ref-${ref.replace(/[^A-Za-z0-9._-]/g, '_')}`)
        activators.push(activatorTarget(`activator-image@${ref}`, join(root, 'image'), join(root, 'tree'), `image form of ${ref} = ${gitHead(ref)}`))
      }
      const haveHaproxy = hasBinary('haproxy', ['-v']) !== null
      const names = [...activators.map((a) => a.name), ...(haveHaproxy ? ['haproxy'] : [])]
      loadAvg.before = loadavg()
      for (let round = 1; round <= activatorRounds; round++) {
        const rotated = names.map((_, i) => names[(i + round) % names.length] ?? 'haproxy')
        const roundSamples: FootprintSample[] = []
        for (const name of rotated) {
          let port: number
          let child: StartedChild
          const headers: string[] = []
          if (name === 'haproxy') {
            const h = await startHaproxy(group, dir, [nginx.port], CC)
            port = h.port
            child = h.child
          } else {
            const t = activators.find((a) => a.name === name)
            if (t === undefined) throw new Error(`loadtest: no activator target ${name}`)
            const a = await startActivator(group, dir, `${name}-${round}`, { bin: t.bin, nodeArgs: entryFlags(t.env), env: { ...process.env, ...t.env }, cwd: t.cwd })
            const put = await httpCall('PUT', a.adminPort, '/revisions/default/cold', JSON.stringify({ containerConcurrency: CC, endpoints: [`${HOST}:${nginx.port}`] }))
            if (put.status !== 200) throw new Error(`loadtest: PUT revision answered ${put.status}: ${put.body}`)
            for (let i = 0; i < 200 && (await httpCall('GET', a.port, '/', null, { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'cold' })).status !== 200; i++) await sleep(25)
            headers.push('Knative-Serving-Namespace: default', 'Knative-Serving-Revision: cold')
            port = a.port
            child = a.child
          }
          await sleep(idleMs)
          const idle = rssMb(child.pid)
          const r = await runWrk(group, { url: `http://${HOST}:${port}/`, connections: CONNECTIONS, threads: 1, durationS, headers })
          const end = rssMb(child.pid)
          await group.stop(child)
          const sample: FootprintSample = { target: name, round, idleRssMb: idle.rssMb, idleAnonMb: idle.anonMb, peakRssMb: end.hwmMb, endAnonMb: end.anonMb, reqPerSec: r.reqPerSec, ratioToHaproxy: null, errors: r.errors + r.non2xx }
          roundSamples.push(sample)
          log(`  footprint round ${round} ${name.padEnd(24)} idle ${idle.rssMb.toFixed(1)} MB (anon ${idle.anonMb.toFixed(1)})  peak ${end.hwmMb.toFixed(1)} MB  ${Math.round(r.reqPerSec)} req/s  err ${r.errors}/${r.non2xx}`)
        }
        const haproxyRps = roundSamples.find((x) => x.target === 'haproxy')?.reqPerSec ?? Number.NaN
        for (const x of roundSamples) x.ratioToHaproxy = x.reqPerSec / haproxyRps
        footprintSamples.push(...roundSamples)
      }
      loadAvg.after = loadavg()
    }
    const footprint = [...activators.map((a) => a.name), ...(footprintSamples.some((x) => x.target === 'haproxy') ? ['haproxy'] : [])].map((name) => {
      const xs = footprintSamples.filter((x) => x.target === name)
      return {
        target: name,
        idleRssMb: median(xs.map((x) => x.idleRssMb)),
        idleAnonMb: median(xs.map((x) => x.idleAnonMb)),
        peakRssMb: median(xs.map((x) => x.peakRssMb)),
        peakRssMaxMb: Math.max(...xs.map((x) => x.peakRssMb)),
        endAnonMb: median(xs.map((x) => x.endAnonMb)),
        reqPerSec: median(xs.map((x) => x.reqPerSec)),
        ratioToHaproxy: median(xs.map((x) => x.ratioToHaproxy ?? Number.NaN)),
        errors: xs.reduce((n, x) => n + x.errors, 0),
      }
    })

    const floorReady = median(spawns.filter((s) => s.target === 'node-floor').map((s) => s.readyMs))
    const rows = targets.map((t) => {
      const sp = spawns.filter((s) => s.target === t.name)
      const ld = loads.filter((s) => s.target === t.name)
      const ready = median(sp.map((s) => s.readyMs))
      return {
        target: t.name,
        description: t.description,
        readyMs: ready,
        readyMinMs: Math.min(...sp.map((s) => s.readyMs)),
        readyMaxMs: Math.max(...sp.map((s) => s.readyMs)),
        overFloorMs: ready - floorReady,
        probeOkMs: median(sp.map((s) => s.probeOkMs)),
        idleRssMb: median(sp.map((s) => s.idleRssMb)),
        idleAnonMb: median(sp.map((s) => s.idleAnonMb)),
        loadAnonMb: ld.length === 0 ? null : median(ld.map((s) => s.endAnonMb ?? Number.NaN)),
        startHwmMb: median(sp.map((s) => s.startHwmMb)),
        reqPerSec: ld.length === 0 ? null : median(ld.map((s) => s.reqPerSec)),
        ratioToDirect: ld.length === 0 ? null : median(ld.map((s) => s.ratioToDirect ?? Number.NaN)),
        peakRssMb: ld.length === 0 ? null : median(ld.map((s) => s.peakRssMb ?? Number.NaN)),
        peakRssMaxMb: ld.length === 0 ? null : Math.max(...ld.map((s) => s.peakRssMb ?? Number.NaN)),
        errors: ld.reduce((n, s) => n + s.errors + s.non2xx, 0),
      }
    })
    const directRps = median(loads.filter((s) => s.target === 'direct').map((s) => s.reqPerSec))
    const command = `npm run bench:cold -- ${process.argv.slice(2).join(' ')}`.trim()
    const md = [
      `# Cold path and footprint (${stamp})`,
      '',
      `\`${command}\`; Sluice: ${describeSluiceVersion(flags['sluice-ref'] ?? null)}; Node ${info.node}, ${info.cores} x ${info.cpuModel}, kernel ${info.kernel}.`,
      `Spawn -> ready (kubelet probe 200, then a user request 200, from spawn()), median of ${rounds} interleaved rounds; idle RSS ${idleMs} ms after ready;`,
      `load: wrk -t1 -c${CONNECTIONS} -d${durationS}s, CC=${CC}, nginx upstream (direct ${fmt(directRps)} req/s), ${loadRounds} round(s), each proxy a fresh process; peak RSS = VmHWM at the end of the run.`,
      '',
      '| target | spawn -> ready ms (min-max) | over the floor ms | idle RSS MB (anon) | req/s | vs direct | peak RSS MB (max) | anon after load MB | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.target} | ${fmt(r.readyMs, 1)} (${fmt(r.readyMinMs, 1)}-${fmt(r.readyMaxMs, 1)}) | ${r.target === 'node-floor' ? '-' : fmt(r.overFloorMs, 1)} | ${fmt(r.idleRssMb, 1)} (${fmt(r.idleAnonMb, 1)}) | ${fmt(r.reqPerSec)} | ${fmt(r.ratioToDirect, 2)} | ${fmt(r.peakRssMb, 1)} (${fmt(r.peakRssMaxMb, 1)}) | ${fmt(r.loadAnonMb, 1)} | ${r.reqPerSec === null ? '-' : r.errors} |`),
      '',
      'MB are MiB (/proc kB / 1024). RSS = anon (the process\'s own memory) + file pages, mostly the node binary\'s, shared by every Node process on a host; how many of those a process maps depends on the page cache (kernel fault-around), so idle RSS of one build moves by ~5 MB between setups, its anon does not.',
      '',
      ...rows.map((r) => `- ${r.target}: ${r.description}; \`${commands.get(r.target) ?? ''}\``),
      '',
      ...(footprint.length === 0
        ? []
        : [
            `Activator footprint beside HAProxy (a fresh process per round, ${activatorRounds} interleaved round(s), medians; revision CC=${CC} with the nginx upstream as its one endpoint; idle ${idleMs} ms after ready, peak = VmHWM after wrk -t1 -c${CONNECTIONS} -d${durationS}s; vs HAProxy paired by round; load average ${loadAvg.before.map((x) => x.toFixed(2)).join(' ')} before, ${loadAvg.after.map((x) => x.toFixed(2)).join(' ')} after):`,
            '',
            '| target | idle RSS MB (anon) | peak RSS MB (max) | anon after load MB | req/s | vs HAProxy | errors |',
            '|---|---:|---:|---:|---:|---:|---:|',
            ...footprint.map((f) => `| ${f.target} | ${f.idleRssMb.toFixed(1)} (${f.idleAnonMb.toFixed(1)}) | ${f.peakRssMb.toFixed(1)} (${f.peakRssMaxMb.toFixed(1)}) | ${f.endAnonMb.toFixed(1)} | ${Math.round(f.reqPerSec)} | ${fmt(f.ratioToHaproxy, 2)} | ${f.errors} |`),
            '',
            ...activators.map((a) => `- ${a.name}: ${a.description}`),
            '',
          ]),
    ].join('\n')
    process.stdout.write(md + '\n')
    if (!flags['no-write']) {
      mkdirSync(RESULTS_DIR, { recursive: true })
      writeFileSync(join(RESULTS_DIR, `cold-${stamp}.json`), JSON.stringify({ stamp, command, machine: info, sluice: describeSluiceVersion(flags['sluice-ref'] ?? null), rounds, loadRounds, durationS, idleMs, rows, spawns, loads, footprint }, null, 2) + '\n')
      writeFileSync(join(RESULTS_DIR, `cold-${stamp}.md`), md + '\n')
      log(`wrote loadtest/results/cold-${stamp}.json and .md`)
    }
    isDone = true
  } finally {
    await group.stopAll()
    // Kept after a failure: the children's logs are in it.
    if (isDone) rmSync(dir, { recursive: true, force: true })
    else log(`loadtest: failed; logs and staged forms kept in ${dir}`)
  }
}

await main()

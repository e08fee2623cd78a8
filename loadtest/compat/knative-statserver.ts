// Sluice's activator against Knative's own autoscaler stat server (pkg/autoscaler/statserver,
// gorilla/websocket), built from a knative/serving mirror by this script: the stats websocket
// (src/websocket/, Sluice's RFC 6455 client) and the `knative` protocol as Knative decodes them.
//
//   npm run compat:statserver [-- --mirror /work/.mirror/knative+serving/repo] [--go /usr/lib/go-1.25/bin/go]
//
// Steps: build loadtest/compat/knative-statserver/main.go inside `git archive HEAD` of the mirror
// (GOFLAGS=-mod=vendor: no network), run it on 127.0.0.1:<port> (it prints each decoded
// StatMessage as a JSON line), run `bin/sluice activator --autoscaler ws://127.0.0.1:<port>
// --stats-protocol knative --source api` with two revisions in two namespaces on a local app, then:
//   1. poke: the first request to a revision reaches Knative as {concurrency 1, requests 1};
//   2. counts: N requests to each revision add up to N in what Knative decoded, per key;
//   3. concurrency: 5 requests held open 2.5 s read as ~5 in a period fully inside the hold;
//   4. graceful restart: SIGTERM (Knative's Shutdown sends close 1012 "Restarting"), start again on
//      the same port: the activator reconnects and its stats arrive again;
//   5. abrupt restart: SIGKILL, 2 s down with requests meanwhile, start again: reconnects, and the
//      held latest-per-revision stats and new requests arrive;
//   6. activator shutdown: Knative's server sees close 1001 "activator shutting down".
// Writes loadtest/results/knative-statserver-compat-<stamp>.{json,md}; exits 1 when a check fails.

import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fileStamp, gitHead, machineInfo } from '../harness/bench-run.ts'
import { ChildGroup, collectOutput, type StartedChild } from '../harness/child-group.ts'
import type { Stat } from '../../src/stats/stat.ts'
import { startRawPod } from '../harness/raw-pod.ts'
import { freePort, HOST } from '../harness/targets.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const MAIN_GO = join(ROOT, 'loadtest', 'compat', 'knative-statserver', 'main.go')

function argOf (name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}

const MIRROR = argOf('mirror', '/work/.mirror/knative+serving/repo')
const GO = argOf('go', '/usr/lib/go-1.25/bin/go')

/** One stat as Knative's server decoded it (the Go program prints its fields under our names), with its key. */
interface StatLine extends Stat {
  key: string
  /** ms since the script started, when the line was read. */
  at: number
}

interface Check { name: string, pass: boolean, detail: string }

const t0 = performance.now()
const now = (): number => Math.round(performance.now() - t0)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const checks: Check[] = []
function check (name: string, pass: boolean, detail: string): void {
  checks.push({ name, pass, detail })
  console.log(`${pass ? 'PASS' : 'FAIL'} ${name}: ${detail}`)
}

async function until (cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > end) return false
    await sleep(5)
  }
  return true
}

/** Builds the Go program in a `git archive` of the mirror; returns the binary's path and the mirror's commit. */
function buildStatServer (): { binary: string, knativeCommit: string, buildMs: number } {
  const knativeCommit = execFileSync('git', ['-C', MIRROR, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
  const src = mkdtempSync(join(tmpdir(), 'knative-statserver-src-'))
  const binary = join(tmpdir(), `sluice-knative-statserver-${knativeCommit.slice(0, 10)}`)
  const start = performance.now()
  try {
    execFileSync('sh', ['-c', `git -C '${MIRROR}' archive HEAD cmd pkg vendor go.mod go.sum | tar -x -C '${src}'`], { stdio: 'inherit' })
    mkdirSync(join(src, 'cmd', 'sluice-statserver'), { recursive: true })
    cpSync(MAIN_GO, join(src, 'cmd', 'sluice-statserver', 'main.go'))
    execFileSync(GO, ['build', '-o', binary, './cmd/sluice-statserver'], {
      cwd: src,
      stdio: 'inherit',
      env: { ...process.env, PATH: `${dirname(GO)}:${process.env.PATH ?? ''}`, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=vendor' },
    })
  } finally {
    rmSync(src, { recursive: true, force: true })
  }
  return { binary, knativeCommit, buildMs: Math.round(performance.now() - start) }
}

/** Knative's server as a child: its stat lines parsed, its zap log kept. */
class StatServer {
  readonly stats: StatLine[] = []
  readonly logs: Array<Record<string, unknown>> = []
  child: StartedChild | null = null
  #buffer = ''
  #errBuffer = ''

  readonly group: ChildGroup
  readonly binary: string
  readonly port: number

  constructor (group: ChildGroup, binary: string, port: number) {
    this.group = group
    this.binary = binary
    this.port = port
  }

  async start (): Promise<void> {
    const child = this.group.start('knative-statserver', this.binary, ['-addr', `${HOST}:${this.port}`], { capture: true })
    child.process.stdout?.setEncoding('utf8').on('data', (s: string) => {
      this.#buffer += s
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, nl)
        this.#buffer = this.#buffer.slice(nl + 1)
        if (line.trim() !== '') this.stats.push({ ...(JSON.parse(line) as Omit<StatLine, 'at'>), at: now() })
      }
    })
    child.process.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.#errBuffer += s
      for (let nl = this.#errBuffer.indexOf('\n'); nl >= 0; nl = this.#errBuffer.indexOf('\n')) {
        const line = this.#errBuffer.slice(0, nl)
        this.#errBuffer = this.#errBuffer.slice(nl + 1)
        try { this.logs.push({ ...(JSON.parse(line) as Record<string, unknown>), at: now() }) } catch { this.logs.push({ msg: line, at: now() }) }
      }
    })
    this.child = child
    // Its listener is up once it can be connected to.
    for (let i = 0; i < 1000; i++) {
      if (await canConnect(this.port)) return
      await sleep(10)
    }
    throw new Error('knative statserver does not accept connections')
  }

  async stop (signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    this.child = null
    if (child !== null) await this.group.stop(child, signal)
  }

  /** Connections Knative upgraded to websockets so far. */
  get upgrades (): number { return this.logs.filter((l) => l.msg === 'Connection upgraded to WebSocket. Entering receive loop.').length }

  statsFor (key: string, fromMs = 0): StatLine[] { return this.stats.filter((s) => s.key === key && s.at >= fromMs) }
}

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, HOST)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/** The pod's `/hold` answers after this long (in-flight requests Knative should read as concurrency). */
const HOLD_MS = 2_500

/** One request through the activator to namespace/name; resolves with the status. */
function request (port: number, namespace: string, name: string, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, HOST)
    let data = ''
    s.on('connect', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: app\r\nKnative-Serving-Namespace: ${namespace}\r\nKnative-Serving-Revision: ${name}\r\nConnection: close\r\n\r\n`)
    })
    s.on('data', (c: Buffer) => { data += c.toString('latin1') })
    s.on('close', () => { resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)) })
    s.on('error', () => {})
  })
}

async function putRevision (adminPort: number, namespace: string, name: string, appPort: number): Promise<number> {
  const body = JSON.stringify({ containerConcurrency: 10, endpoints: [`${HOST}:${appPort}`] })
  return new Promise((resolve) => {
    const s = connect(adminPort, HOST)
    let data = ''
    s.on('connect', () => {
      s.write(`PUT /revisions/${namespace}/${name} HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    })
    s.on('data', (c: Buffer) => { data += c.toString('latin1') })
    s.on('close', () => { resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)) })
    s.on('error', () => {})
  })
}

const sum = (lines: readonly StatLine[], f: (s: StatLine) => number): number => lines.reduce((a, s) => a + f(s), 0)

async function main (): Promise<void> {
  const group = new ChildGroup()
  const build = buildStatServer()
  console.log(`built Knative's stat server from ${build.knativeCommit} in ${build.buildMs} ms: ${build.binary}`)
  const statPort = await freePort()
  const server = new StatServer(group, build.binary, statPort)
  await server.start()
  const app = await startRawPod(HOST, { holdMs: HOLD_MS })
  const A = { namespace: 'default', name: 'compat-a', key: 'default/compat-a' }
  const B = { namespace: 'team-b', name: 'compat-b', key: 'team-b/compat-b' }
  const podName = 'activator-compat-0'
  const activatorArgs = ['bin/sluice', 'activator', '--host', HOST, '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0',
    '--drain-seconds', '0', '--source', 'api', '--autoscaler', `ws://${HOST}:${statPort}`, '--stats-protocol', 'knative']
  const activator = group.start('activator', process.execPath, activatorArgs, { cwd: ROOT, capture: true, env: { ...process.env, POD_NAME: podName } })
  const out = collectOutput(activator)
  let result: Record<string, unknown> = {}
  try {
    if (!await until(() => out.stdout().includes('"activator listening"'), 15_000)) throw new Error(`activator did not start: ${out.stderr()}`)
    const line = out.stdout().split('\n').find((l) => l.includes('"activator listening"')) ?? '{}'
    const ports = (JSON.parse(line) as { ports: { serving: number, admin: number } }).ports
    check('the activator connects to Knative\'s stat server', await until(() => server.upgrades === 1, 5_000), `upgrades seen by Knative: ${server.upgrades}`)
    for (const r of [A, B]) await putRevision(ports.admin, r.namespace, r.name, app.port)

    // 1. Poke.
    const pokeSentAt = now()
    const firstStatus = await request(ports.serving, A.namespace, A.name)
    await until(() => server.statsFor(A.key).length > 0, 3_000)
    const poke = server.statsFor(A.key)[0]
    check('poke: the first request reaches Knative as {concurrency 1, requests 1} from the activator\'s pod name',
      firstStatus === 200 && poke !== undefined && poke.averageConcurrentRequests === 1 && poke.requestCount === 1 && poke.podName === podName,
      poke === undefined ? 'no stat' : `${JSON.stringify(poke)}, ${poke.at - pokeSentAt} ms after the request was sent`)

    // 2. Counts per key.
    const N_A = 60
    const N_B = 25
    const statuses: number[] = []
    for (let i = 0; i < N_A; i++) {
      statuses.push(await request(ports.serving, A.namespace, A.name))
      if (i < N_B) statuses.push(await request(ports.serving, B.namespace, B.name))
      await sleep(30)
    }
    await sleep(2_500) // two more periods: every request has been reported
    const totalA = sum(server.statsFor(A.key), (s) => s.requestCount)
    const totalB = sum(server.statsFor(B.key), (s) => s.requestCount)
    check('counts: every request is counted once under its revision\'s key (the poke included)',
      statuses.every((s) => s === 200) && totalA === N_A + 1 && totalB === N_B,
      `${A.key}: ${totalA} (sent ${N_A + 1}); ${B.key}: ${totalB} (sent ${N_B}); keys seen: ${[...new Set(server.stats.map((s) => s.key))].join(', ')}`)
    check('fields: proxied counts 0, pod name set, timestamps in unix seconds',
      server.stats.every((s) => s.proxiedRequestCount === 0 && s.averageProxiedConcurrentRequests === 0 && s.podName === podName && (s.timestamp === 0 || Math.abs(s.timestamp - Date.now() / 1000) < 120)),
      `${server.stats.length} stat messages decoded`)

    // 3. Concurrency: 5 requests held 2.5 s; at least one 1-s period lies fully inside the hold.
    const holdFrom = now()
    const held = Promise.all(Array.from({ length: 5 }, () => request(ports.serving, A.namespace, A.name, '/hold')))
    await held
    await sleep(1_500)
    const during = server.statsFor(A.key, holdFrom)
    const peak = Math.max(0, ...during.map((s) => s.averageConcurrentRequests))
    check('concurrency: 5 requests held open read as 5 in a period inside the hold', Math.abs(peak - 5) < 0.05,
      `averageConcurrentRequests during the hold: ${during.map((s) => s.averageConcurrentRequests.toFixed(2)).join(', ')}`)

    // 4. Graceful restart: Knative's Shutdown sends close 1012.
    const upgradesBefore = server.upgrades
    const stoppedAt = now()
    await server.stop('SIGTERM')
    const sawDisconnect = await until(() => out.stdout().includes('disconnected from autoscaler; reconnecting'), 3_000)
    const disconnectLine = out.stdout().split('\n').find((l) => l.includes('disconnected from autoscaler; reconnecting')) ?? ''
    const restartAt = now()
    await server.start()
    const reconnected = await until(() => server.upgrades > upgradesBefore, 3_000)
    const reconnectMs = (server.logs.filter((l) => l.msg === 'Connection upgraded to WebSocket. Entering receive loop.').at(-1)?.at as number) - restartAt
    const afterRestart = now()
    for (let i = 0; i < 10; i++) await request(ports.serving, B.namespace, B.name)
    await sleep(2_200)
    const bAfter = sum(server.statsFor(B.key, afterRestart), (s) => s.requestCount)
    check('graceful restart: Knative closes with 1012, the activator reconnects and its stats arrive',
      sawDisconnect && /"code":1012/.test(disconnectLine) && reconnected && bAfter === 10,
      `activator log: ${disconnectLine.slice(0, 240)}; reconnected ${reconnectMs} ms after Knative listened again (down ${restartAt - stoppedAt} ms); ${B.key} after: ${bAfter} of 10`)

    // 5. Abrupt restart: SIGKILL, requests while down, start again.
    const upgradesBeforeKill = server.upgrades
    await server.stop('SIGKILL')
    const downFrom = now()
    for (let i = 0; i < 7; i++) await request(ports.serving, A.namespace, A.name)
    await sleep(2_000)
    const killedRestartAt = now()
    await server.start()
    const reconnectedAfterKill = await until(() => server.upgrades > upgradesBeforeKill, 3_000)
    const killReconnectMs = (server.logs.filter((l) => l.msg === 'Connection upgraded to WebSocket. Entering receive loop.').at(-1)?.at as number) - killedRestartAt
    await until(() => server.statsFor(A.key, killedRestartAt).length > 0, 2_000)
    const held2 = server.statsFor(A.key, killedRestartAt)
    const firstHeld = held2[0]
    for (let i = 0; i < 4; i++) await request(ports.serving, A.namespace, A.name)
    await sleep(2_200)
    const aAfterKill = sum(server.statsFor(A.key, killedRestartAt), (s) => s.requestCount)
    check('abrupt restart: after SIGKILL and 2 s down, the activator reconnects, flushes the latest held stat, and new requests arrive',
      reconnectedAfterKill && firstHeld !== undefined && aAfterKill >= 4,
      `reconnected ${killReconnectMs} ms after Knative listened again (down ${killedRestartAt - downFrom} ms); first stat after: ${JSON.stringify(firstHeld ?? null)}; ${A.key} requestCount after restart: ${aAfterKill} (4 sent after it; of the 7 sent while down, what the held latest-per-revision stat still carries: the pusher keeps the latest period per revision, not a sum)`)

    // 6. The activator's shutdown: close 1001.
    await group.stop(activator, 'SIGTERM')
    const sawClose = await until(() => server.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('Code:1001')), 3_000)
    const closeLog = server.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('Code:1001'))
    check('activator shutdown: Knative\'s server reads close 1001', sawClose, closeLog === undefined ? 'no close seen' : String(closeLog.msg))

    // Knative logs at error level any end of a connection but 1006, so the 1001 above; and its own
    // Shutdown closes the connection under its read loop (errNetClosing). Anything else (a bad
    // frame, a protobuf that does not decode, a text frame) is a failure.
    const expected = (l: Record<string, unknown>): boolean => typeof l.msg === 'string' && (/Code:1001/.test(l.msg) || /errNetClosing/.test(l.msg))
    const errorLogs = server.logs.filter((l) => l.level === 'error' && !expected(l))
    check('Knative\'s server logged no error of its own (framing, decode, unknown message type)', errorLogs.length === 0,
      errorLogs.length === 0 ? `none (besides ${server.logs.filter((l) => l.level === 'error').length} expected: the close 1001, its own Shutdown closing its connections)` : JSON.stringify(errorLogs).slice(0, 400))

    result = {
      pokeLatencyMs: poke === undefined ? null : poke.at - pokeSentAt,
      gracefulReconnectMs: reconnectMs,
      abruptReconnectMs: killReconnectMs,
      statMessages: server.stats.length,
      upgrades: server.upgrades,
    }
  } finally {
    await group.stopAll()
    app.close()
  }

  const stamp = fileStamp(new Date())
  const base = join(ROOT, 'loadtest', 'results', `knative-statserver-compat-${stamp}`)
  const meta = {
    date: new Date().toISOString(),
    command: 'npm run compat:statserver',
    sluice: gitHead(),
    knative: build.knativeCommit,
    go: execFileSync(GO, ['version'], { encoding: 'utf8' }).trim(),
    machine: machineInfo(),
  }
  const passed = checks.every((c) => c.pass)
  writeFileSync(`${base}.json`, JSON.stringify({ ...meta, passed, checks, figures: result, stats: server.stats }, null, 2) + '\n')
  const md = [
    `# Sluice's activator against Knative's autoscaler stat server (${meta.date.slice(0, 10)})`,
    '',
    `Command: \`${meta.command}\` (loadtest/compat/knative-statserver.ts). Sluice ${meta.sluice}; Knative serving ${meta.knative}`,
    `(pkg/autoscaler/statserver with its vendored gorilla/websocket, built by ${meta.go}); Node ${meta.machine.node}, ${meta.machine.cpuModel}, ${meta.machine.cores} cores.`,
    '',
    'The activator (`bin/sluice activator --autoscaler ws://127.0.0.1:<port> --stats-protocol knative`, its websocket',
    'Sluice\'s own RFC 6455 client) pushes to Knative\'s `statserver.New` (loadtest/compat/knative-statserver/main.go prints',
    'every StatMessage Knative decoded). Two revisions in two namespaces, one local app.',
    '',
    `**${passed ? 'All checks passed' : 'FAILED'}** (${checks.filter((c) => c.pass).length}/${checks.length}):`,
    '',
    '| check | result | detail |',
    '|---|---|---|',
    ...checks.map((c) => `| ${c.name} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.detail.replace(/\|/g, '\\|')} |`),
    '',
    `Figures: ${JSON.stringify(result)}`,
    '',
  ].join('\n')
  writeFileSync(`${base}.md`, md)
  console.log(`wrote ${base}.json and .md`)
  process.exitCode = passed ? 0 : 1
}

await main()

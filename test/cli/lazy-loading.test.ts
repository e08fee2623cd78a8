// Issue 12: a sidecar loads only what it runs. Started through the CLI (as bin/sluice and the image
// run it) and used as a pod is (kubelet probes, requests, a scrape, the admin port), it has not
// loaded undici, http-proxy-3, the Kubernetes client, hdr-histogram-js, pino, node:http, node:http2
// or node:tls, nor OpenTelemetry (the SDK, its exporters, grpc-js, protobufjs: issue 15), in the
// checkout form or bundled into the image form's chunks; the first Upgrade request loads the upgrade
// path (http-proxy-3, node:http). With OBSERVABILITY_CONFIG exporting, OpenTelemetry is loaded.
// Nor, without a request log in OBSERVABILITY_CONFIG, the request log with its Go emulation: the
// text/template engine (src/go/go-template-*.ts), go-fmt, go-http-request, the template's compile
// step (observability-config.ts); nor node:fs's ESM facade (fs/promises, readline: `import from
// 'node:fs'` loads them, process.getBuiltinModule does not). With the request log on, they load.
import { execFileSync, fork } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { WebSocketServer } from 'ws'
import { childEnv, send, until } from '../helpers/sidecar-fixture.ts'

const CHILD = fileURLToPath(new URL('../helpers/sidecar-load-report.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Packages and built-ins the sidecar must not load until a request needs them (pino: never, json-logger.ts). */
const LAZY_PACKAGES = ['undici', 'http-proxy-3', 'hdr-histogram-js', 'pino', '@opentelemetry', '@grpc/grpc-js', 'protobufjs']
const LAZY_BUILTINS = ['http', 'http2', 'https', 'tls', '_http_server', 'internal/http2/core']
/** What only OBSERVABILITY_CONFIG's request log runs (files under src/, no extension): Sidecar.listen imports them when it is on. */
const REQUEST_LOG_FILES = [
  'go/go-template', 'go/go-template-lex', 'go/go-template-parse', 'go/go-template-number', 'go/go-template-exec', 'go/go-template-funcs',
  'go/go-fmt', 'go/go-http-request', 'proxy/knative-request-log', 'config/observability-config',
]
/**
 * The activator's: yaml only with a revisions file; ws never (the stat pusher has its own websocket
 * client, src/websocket/); node:http serves its admin port.
 */
const ACTIVATOR_LAZY_PACKAGES = ['undici', 'http-proxy-3', 'pino', 'yaml', 'ws']
const ACTIVATOR_LAZY_BUILTINS = ['http2', 'https', 'tls', 'internal/http2/core', 'zlib']

interface Report { loaded: string[], builtins: string[] }

function packagesIn (r: Report, packages: readonly string[] = LAZY_PACKAGES): string[] {
  return packages.filter((p) => r.loaded.some((url) => url.includes(`/node_modules/${p}/`)))
}

/**
 * Loaded modules that are, or bundle, OpenTelemetry: src/telemetry/otel-telemetry.ts, a package under
 * node_modules/@opentelemetry, or a chunk of the image form holding one (esbuild marks each bundled
 * module with a `// <path>/node_modules/<package>/...` comment).
 */
function telemetryModulesIn (r: Report): string[] {
  return r.loaded.filter((url) => {
    if (url.includes('/telemetry/otel-telemetry.') || url.includes('/node_modules/@opentelemetry/')) return true
    if (!url.startsWith('file:') || !url.includes('/dist/cli/')) return false
    return readFileSync(new URL(url), 'utf8').includes('node_modules/@opentelemetry/')
  })
}

/**
 * Of `files` (paths under src/ without extension), those loaded: the source file, its tsc build, or
 * a chunk of the image form's bundle holding it (esbuild marks each bundled module with a
 * `// <path>/dist/<file>.js` comment line).
 */
function filesIn (r: Report, files: readonly string[]): string[] {
  const chunks = r.loaded.filter((url) => url.startsWith('file:') && url.includes('/dist/cli/')).map((url) => readFileSync(new URL(url), 'utf8'))
  return files.filter((f) => r.loaded.some((url) => url.endsWith(`/src/${f}.ts`) || url.endsWith(`/dist/${f}.js`)) ||
    chunks.some((text) => text.includes(`/dist/${f}.js\n`)))
}

/**
 * Sluice's loaded modules (sources, tsc builds, bundle chunks) that import node:fs or node:fs/promises
 * as ES modules. Checked in their text, not in the built-ins loaded: under tap's coverage,
 * NODE_OPTIONS preloads node:fs and fs/promises in every child, before the hooks of
 * sidecar-load-report.ts see anything.
 */
function fsFacadeImportersIn (r: Report): string[] {
  return r.loaded.filter((url) => url.startsWith('file:') && (url.includes('/src/') || url.includes('/dist/')) && !url.includes('/node_modules/') &&
    /\bfrom\s*['"](?:node:)?fs(?:\/promises)?['"]/.test(readFileSync(new URL(url), 'utf8')))
}

/** A user container on raw sockets: 101 to an Upgrade request, `queue` to an activator's probe (as a sidecar), 200 to anything else. */
async function startUpgradingApp (t: { teardown (fn: () => unknown): void }): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      if (/^upgrade:/im.test(head)) {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
      } else if (/^k-network-probe: queue/im.test(head)) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nqueue')
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }
      head = ''
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const addr = server.address()
  return typeof addr === 'object' && addr !== null ? addr.port : 0
}

/** Sends an Upgrade request and resolves with the status line of the answer. */
function upgrade (port: number, extraHeaders = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.on('connect', () => {
      socket.write(`GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extraHeaders}\r\n`)
    })
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      const eol = data.indexOf('\r\n')
      if (eol >= 0) { socket.destroy(); resolve(data.slice(0, eol)) }
    })
    socket.on('error', reject)
  })
}

async function checkLazyLoading (t: Test, env: Record<string, string>): Promise<void> {
  const appPort = await startUpgradingApp(t)
  const child = fork(CHILD, ['sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0', '--container-concurrency', '10'], {
    // execArgv []: not tap's loader hooks (fork passes the parent's), which load modules of their own.
    env: childEnv({ USER_PORT: String(appPort), ...env }), stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"'), 15_000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const ports = (JSON.parse(line) as { ports: { serving: number, admin: number, metrics: number } }).ports
  const report = async (): Promise<Report> => await new Promise((resolve) => {
    child.once('message', (m) => { resolve(m as Report) })
    child.send('report')
  })

  // What every pod does: kubelet probes until ready, requests, autoscaler scrapes, the admin port.
  const origin = `http://127.0.0.1:${ports.serving}`
  const probe = { 'user-agent': 'kube-probe/1.31', 'k-network-probe': 'queue' }
  for (let i = 0; i < 200 && (await send(origin, { headers: probe })).status !== 200; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal((await send(origin, { headers: probe })).status, 200, 'kubelet probe')
  t.equal((await send(`${origin}/hello`)).body, 'ok', 'a request reaches the app')
  t.equal((await send(`http://127.0.0.1:${ports.metrics}/metrics`)).status, 200, 'scrape')
  t.equal((await send(`http://127.0.0.1:${ports.admin}/nothing`)).status, 404, 'admin port')

  const before = await report()
  t.ok(before.loaded.some((url) => url.includes('/sidecar/sidecar-server.') || url.endsWith('/dist/cli/sidecar.js')), 'the report covers the sidecar')
  t.same(packagesIn(before), [], `none of ${LAZY_PACKAGES.join(', ')} loaded`)
  t.same(LAZY_BUILTINS.filter((b) => before.builtins.includes(b)), [], `none of node:${LAZY_BUILTINS.join(', node:')} loaded`)
  // The `performance` global loads these (~0.6 MB RSS): the clock reads process.hrtime (shared/monotonic.ts).
  t.same(['perf_hooks', 'internal/perf/performance'].filter((b) => before.builtins.includes(b)), [], 'not perf_hooks: nothing touched the performance global')
  t.notOk(before.loaded.some((url) => url.includes('/activator/') || url.includes('/autoscaler/')), 'no other mode\'s modules')
  t.same(telemetryModulesIn(before), [], 'no OpenTelemetry module, bundled or not')
  // (node:inspector is not listed: under tap's coverage, NODE_V8_COVERAGE makes Node load it in every child.)
  t.notOk(before.loaded.some((url) => url.includes('profiling-server')), 'no profiling server (runtime profiling is off)')
  t.same(fsFacadeImportersIn(before), [], 'no module of Sluice\'s imports node:fs\'s ESM facade (process.getBuiltinModule instead)')
  t.same(filesIn(before, REQUEST_LOG_FILES), [], 'no request log: not the Go template engine, go-fmt, go-http-request nor the template\'s compile step, bundled or not')

  t.equal(await upgrade(ports.serving), 'HTTP/1.1 101 Switching Protocols', 'the Upgrade request is proxied')
  const after = await report()
  t.same(packagesIn(after), ['http-proxy-3'], 'the upgrade path loaded http-proxy-3, nothing else optional')
  t.ok(after.builtins.includes('http'), 'and node:http (the hand-off server, http-proxy-3\'s client)')
  child.kill('SIGTERM')
  await new Promise((resolve) => { child.once('exit', resolve) })
}

/** A sidecar exporting traces (stdout), with the request log on, after one request: what it loaded. */
async function telemetryOnReport (t: Test, env: Record<string, string>): Promise<Report> {
  const appPort = await startUpgradingApp(t)
  const child = fork(CHILD, ['sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(appPort), OBSERVABILITY_CONFIG: '{"tracing":{"protocol":"stdout"},"enableRequestLog":true,"requestLogTemplate":"request-log {{.Request.Method}} {{.Response.Code}}"}', ...env }), stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"'), 15_000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const serving = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  await until(() => out.includes('startup probe passed'), 10_000, 'ready')
  t.equal((await send(`http://127.0.0.1:${serving}/traced`)).body, 'ok', 'a traced request reaches the app')
  await until(() => out.includes('request-log GET 200\n'), 5_000, 'its request log line')
  const report = await new Promise<Report>((resolve) => {
    child.once('message', (m) => { resolve(m as Report) })
    child.send('report')
  })
  child.kill('SIGTERM')
  await new Promise((resolve) => { child.once('exit', resolve) })
  return report
}

/** A websocket server (ws's) standing in for the autoscaler's stat server; resolves with its port and a count of messages received. */
async function startStatServer (t: { teardown (fn: () => unknown): void }): Promise<{ port: number, messages: () => number }> {
  let messages = 0
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  wss.on('connection', (ws) => { ws.on('message', () => { messages++ }) })
  await new Promise((resolve) => { wss.once('listening', resolve) })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  const addr = wss.address()
  return { port: typeof addr === 'object' && addr !== null ? addr.port : 0, messages: () => messages }
}

/**
 * `withAutoscaler`: with --autoscaler (as every activator in Knative runs), stats pushed to a
 * websocket server, and then no package loaded at all: the pusher's websocket is Sluice's own.
 */
async function checkActivatorLazyLoading (t: Test, env: Record<string, string>, withAutoscaler = false): Promise<void> {
  const appPort = await startUpgradingApp(t)
  const stats = withAutoscaler ? await startStatServer(t) : null
  const autoscalerArgs = stats === null ? [] : ['--autoscaler', `ws://127.0.0.1:${stats.port}/`]
  const child = fork(CHILD, ['activator', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0', '--source', 'api', ...autoscalerArgs], {
    env: childEnv(env), stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"activator listening"'), 15_000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"activator listening"')) ?? '{}'
  const ports = (JSON.parse(line) as { ports: { serving: number, admin: number, metrics: number } }).ports
  const report = async (): Promise<Report> => await new Promise((resolve) => {
    child.once('message', (m) => { resolve(m as Report) })
    child.send('report')
  })

  // What an activator does: a revision arrives, its endpoint is probed, requests go through; kubelet
  // probes and scrapes.
  const body = JSON.stringify({ containerConcurrency: 10, endpoints: [`127.0.0.1:${appPort}`] })
  t.equal((await send(`http://127.0.0.1:${ports.admin}/revisions/default/lazy`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } })).status, 200, 'revision PUT')
  const origin = `http://127.0.0.1:${ports.serving}`
  const routing = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'lazy' }
  t.equal((await send(`${origin}/hello`, { headers: routing })).body, 'ok', 'a request is buffered until the probe passes, then proxied')
  t.equal((await send(origin, { headers: { 'user-agent': 'kube-probe/1.31' } })).status, 200, 'kubelet probe')
  t.equal((await send(`http://127.0.0.1:${ports.metrics}/metrics`)).status, 200, 'scrape')

  const before = await report()
  t.ok(before.loaded.some((url) => url.includes('/activator/activator-server.')), 'the report covers the activator')
  t.same(packagesIn(before, ACTIVATOR_LAZY_PACKAGES), [], `none of ${ACTIVATOR_LAZY_PACKAGES.join(', ')} loaded`)
  t.same(ACTIVATOR_LAZY_BUILTINS.filter((b) => before.builtins.includes(b)), [], `none of node:${ACTIVATOR_LAZY_BUILTINS.join(', node:')} loaded`)
  t.notOk(before.loaded.some((url) => url.includes('/sidecar/') || url.includes('/autoscaler/')), 'no other mode\'s modules')
  if (stats !== null) {
    await until(() => stats.messages() > 0, 10_000, 'stats pushed to the autoscaler')
    const withStats = await report()
    t.ok(withStats.loaded.some((url) => url.includes('/websocket/websocket-client.') || url.includes('/dist/websocket/')), 'the report covers the stats websocket')
    t.same(withStats.loaded.filter((url) => url.includes('/node_modules/')), [], 'with --autoscaler and stats pushed: no package loaded at all')
    t.same(ACTIVATOR_LAZY_BUILTINS.filter((b) => withStats.builtins.includes(b)), [], `nor node:${ACTIVATOR_LAZY_BUILTINS.join(', node:')} (a ws:// URL needs no TLS)`)
  }

  const routingHeaders = 'Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: lazy\r\n'
  t.equal(await upgrade(ports.serving, routingHeaders), 'HTTP/1.1 101 Switching Protocols', 'the Upgrade request is proxied')
  const after = await report()
  t.same(packagesIn(after, ACTIVATOR_LAZY_PACKAGES), ['http-proxy-3'], 'the first Upgrade request loaded http-proxy-3, nothing else optional')
  child.kill('SIGTERM')
  await new Promise((resolve) => { child.once('exit', resolve) })
}

t.test('a started sidecar has not loaded the optional paths; the first Upgrade request loads the upgrade path', async (t) => {
  await checkLazyLoading(t, {})
  const on = await telemetryOnReport(t, {})
  t.ok(on.loaded.some((url) => url.includes('/telemetry/otel-telemetry.ts')) && packagesIn(on).includes('@opentelemetry'), 'with OBSERVABILITY_CONFIG exporting, OpenTelemetry is loaded (the check above can fail)')
  t.same(filesIn(on, REQUEST_LOG_FILES), REQUEST_LOG_FILES, 'with the request log on, the Go template engine and the rest of it are loaded (the check above can fail)')
})

t.test('a started activator has not loaded the optional paths; the first Upgrade request loads http-proxy-3', async (t) => {
  await checkActivatorLazyLoading(t, {})
})

t.test('an activator pushing stats to an autoscaler (--autoscaler ws://) loads no package at all', async (t) => {
  await checkActivatorLazyLoading(t, {}, true)
})

t.test('the same for the image form: scripts/build.mjs output, its sidecar bundled with lazy chunks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lazy-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), join(dir, 'dist')], {
    cwd: ROOT, stdio: 'inherit', env: childEnv({ PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` }),
  })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  await checkLazyLoading(t, { SLUICE_MAIN: pathToFileURL(join(dir, 'dist', 'cli', 'main.js')).href })
  const on = await telemetryOnReport(t, { SLUICE_MAIN: pathToFileURL(join(dir, 'dist', 'cli', 'main.js')).href })
  t.not(telemetryModulesIn(on).length, 0, 'with OBSERVABILITY_CONFIG exporting, its chunks load')
  t.same(filesIn(on, REQUEST_LOG_FILES), REQUEST_LOG_FILES, 'with the request log on, the chunks of the Go template engine and the rest of it load')
  t.notOk(packagesIn(on).some((p) => p === '@opentelemetry' || p === '@grpc/grpc-js' || p === 'protobufjs'), 'from the bundle: nothing from node_modules/@opentelemetry, so the image needs none')
  await checkActivatorLazyLoading(t, { SLUICE_MAIN: pathToFileURL(join(dir, 'dist', 'cli', 'main.js')).href })
  await checkActivatorLazyLoading(t, { SLUICE_MAIN: pathToFileURL(join(dir, 'dist', 'cli', 'main.js')).href }, true)
})

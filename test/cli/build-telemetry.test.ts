// No image carries node_modules/@opentelemetry (Dockerfile `deps`): scripts/build.mjs bundles
// OpenTelemetry into the sidecar's lazy chunks, and for the other modes into dist/telemetry/ in place.
// Check that both forms export over OTLP/HTTP and OTLP/gRPC and serve the Prometheus exposition with
// a node_modules that lacks @opentelemetry, @grpc, protobufjs and what only they use.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { pickFreePorts } from '../../src/local/free-port.ts'
import { childEnv, send, startApp, until } from '../helpers/sidecar-fixture.ts'
import { startFakePod } from '../activator/fixtures.ts'
import { startOtlpGrpcReceiver, startOtlpHttpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** What the deps stage's `npm uninstall @opentelemetry/...` takes away with them. */
const ABSENT = new Set(['@opentelemetry', '@grpc', '@protobufjs', 'protobufjs', 'long', '@js-sdsl', 'lodash.camelcase'])

let built: string | null = null

/** One image form for the file's tests (the build takes a while), removed when the file ends. */
function buildImageForm (): string {
  if (built !== null) return built
  const dir = mkdtempSync(join(tmpdir(), 'sluice-otel-build-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), join(dir, 'dist')], { cwd: ROOT, stdio: 'inherit', env: childEnv() })
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  mkdirSync(join(dir, 'node_modules'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (!ABSENT.has(name)) symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name))
  }
  built = dir
  return dir
}

/** Starts the built sidecar with `o11y`, sends one request, runs `during`, stops it (flushing). */
async function runOnce (t: Test, dir: string, o11y: object, during: () => Promise<void> = async () => {}): Promise<void> {
  const app = await startApp(t, (_req, res) => { res.end('from app') })
  const child = spawn(process.execPath, [join(dir, 'bin/sluice'), 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(app.port), OBSERVABILITY_CONFIG: JSON.stringify(o11y) }), stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"') || child.exitCode !== null, 10_000, 'listening')
  t.equal(child.exitCode, null, `started: ${out}`)
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  await until(() => out.includes('startup probe passed'), 10_000, 'ready')
  t.equal((await send(`http://127.0.0.1:${port}/`)).body, 'from app')
  await during()
  child.kill('SIGTERM')
  t.equal(await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) }), 0)
}

async function exportOnce (t: Test, dir: string, receiver: OtlpReceiver, o11y: object): Promise<void> {
  await runOnce(t, dir, o11y)
  t.same(receiver.spans.map((s) => s.name).sort(), ['GET', 'HTTP GET', 'kn.queueproxy.proxy'], 'the spans arrived')
  t.ok(receiver.points.some((p) => p.metric === 'kn.serving.invocation.duration'), 'and the metrics')
}

t.test('the built sidecar exports over OTLP/HTTP and OTLP/gRPC without node_modules/@opentelemetry', async (t) => {
  const dir = buildImageForm()
  const http = await startOtlpHttpReceiver(t)
  await exportOnce(t, dir, http, {
    requestMetrics: { protocol: 'http/protobuf', endpoint: `${http.origin}/v1/metrics` },
    tracing: { protocol: 'http/protobuf', endpoint: `${http.origin}/v1/traces`, samplingRate: 1 },
  })
  const grpc = await startOtlpGrpcReceiver(t)
  await exportOnce(t, dir, grpc, {
    requestMetrics: { protocol: 'grpc', endpoint: grpc.origin },
    tracing: { protocol: 'grpc', endpoint: grpc.origin, samplingRate: 1 },
  })
  const [promPort] = await pickFreePorts(1)
  await runOnce(t, dir, { requestMetrics: { protocol: 'prometheus', endpoint: `127.0.0.1:${promPort}` } }, async () => {
    t.match((await send(`http://127.0.0.1:${promPort}/metrics`)).body, /^kn_serving_invocation_duration_seconds_count\{[^}]*\} 1$/m, 'and the Prometheus exposition')
  })
})

/** The built activator with a mounted config-observability, a revision on `pod`, one routed request, then SIGTERM (flushing). */
async function runActivatorOnce (t: Test, dir: string, keys: Record<string, string>, during: () => Promise<void> = async () => {}): Promise<void> {
  const pod = await startFakePod(t, (_req, res) => { res.end('from pod') })
  const config = mkdtempSync(join(tmpdir(), 'sluice-otel-configmap-'))
  t.teardown(() => { rmSync(config, { recursive: true, force: true }) })
  for (const [k, v] of Object.entries(keys)) writeFileSync(join(config, k), v)
  const [port, h2cPort, adminPort, metricsPort] = await pickFreePorts(4)
  const child = spawn(process.execPath, [join(dir, 'bin/sluice'), 'activator', '--source', 'api', '--host', '127.0.0.1', '--port', String(port), '--h2c-port', String(h2cPort),
    '--admin-port', String(adminPort), '--metrics-port', String(metricsPort), '--drain-seconds', '0', '--observability-config-dir', config], {
    env: childEnv({ SYSTEM_NAMESPACE: 'knative-serving', POD_NAME: 'activator-built' }), stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"activator listening"') || child.exitCode !== null, 10_000, 'listening')
  t.equal(child.exitCode, null, `started: ${out}`)
  const put = await send(`http://127.0.0.1:${adminPort}/revisions/default/built`, { method: 'PUT', body: JSON.stringify({ containerConcurrency: 1, endpoints: [`127.0.0.1:${pod.port}`] }) })
  t.equal(put.status < 300, true, `revision PUT: ${put.status} ${put.body}`)
  const headers = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'built' }
  // Buffered until the activator's probe of the pod passes, then proxied.
  t.equal((await send(`http://127.0.0.1:${port}/work`, { headers })).body, 'from pod')
  await during()
  child.kill('SIGTERM')
  t.equal(await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) }), 0)
}

t.test('the built activator exports over OTLP/HTTP and OTLP/gRPC and serves Prometheus without node_modules/@opentelemetry', async (t) => {
  const dir = buildImageForm()
  for (const start of [startOtlpHttpReceiver, startOtlpGrpcReceiver]) {
    const receiver = await start(t)
    const protocol = start === startOtlpHttpReceiver ? 'http/protobuf' : 'grpc'
    const suffix = (signal: string): string => protocol === 'grpc' ? '' : `/v1/${signal}`
    await runActivatorOnce(t, dir, {
      'tracing-protocol': protocol, 'tracing-endpoint': `${receiver.origin}${suffix('traces')}`, 'tracing-sampling-rate': '1',
      'metrics-protocol': protocol, 'metrics-endpoint': `${receiver.origin}${suffix('metrics')}`, 'metrics-export-interval': '1h',
    })
    t.ok(receiver.spans.some((s) => s.name === 'activator_proxy'), `${protocol}: the spans arrived`)
    t.ok(receiver.points.some((p) => p.metric === 'http.server.request.duration'), `${protocol}: and the metrics`)
  }
  const [promPort] = await pickFreePorts(1)
  await runActivatorOnce(t, dir, { 'metrics-protocol': 'prometheus', 'metrics-endpoint': `127.0.0.1:${promPort}` }, async () => {
    t.match((await send(`http://127.0.0.1:${promPort}/metrics`)).body, /^http_server_request_duration_seconds_count\{[^}]*\} 1$/m, 'and the Prometheus exposition')
  })
})

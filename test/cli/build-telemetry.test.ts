// The sidecar image carries no node_modules/@opentelemetry (Dockerfile deps-sidecar): scripts/build.mjs
// bundles OpenTelemetry into the sidecar's lazy chunks. Check that form exports over OTLP/HTTP and
// OTLP/gRPC with a node_modules that lacks @opentelemetry, @grpc, protobufjs and what only they use.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { pickFreePorts } from '../../src/local/free-port.ts'
import { childEnv, send, startApp, until } from '../helpers/sidecar-fixture.ts'
import { startOtlpGrpcReceiver, startOtlpHttpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** What the deps-sidecar stage's `npm uninstall @opentelemetry/...` takes away with them. */
const ABSENT = new Set(['@opentelemetry', '@grpc', '@protobufjs', 'protobufjs', 'long', '@js-sdsl', 'lodash.camelcase'])

function buildImageForm (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-otel-build-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), join(dir, 'dist')], { cwd: ROOT, stdio: 'inherit', env: childEnv() })
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  mkdirSync(join(dir, 'node_modules'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (!ABSENT.has(name)) symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name))
  }
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
  const dir = buildImageForm(t)
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

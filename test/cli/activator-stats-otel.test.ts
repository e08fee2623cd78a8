// `sluice activator` as a process: the stat pusher dials the autoscaler before OpenTelemetry is
// loaded (listen), and cli/activator.ts hands it the telemetry afterwards, so the open websocket
// shows as kn.activator.stats.conn.reachable 1 and a lost one counts in .errors, at a real OTLP
// receiver (the metrics themselves: test/telemetry/activator-stats-otel.test.ts).
import { spawn } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { configMapDir, until } from '../activator/fixtures.ts'
import { latestPoint, startOtlpHttpReceiver } from '../helpers/otlp-receiver.ts'

const BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))

t.test('the activator process reports its autoscaler websocket once OpenTelemetry is loaded', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => { wss.once('listening', resolve) })
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate()
    wss.close(() => { resolve() })
  }))
  const port = (wss.address() as AddressInfo).port
  const dir = configMapDir(t, { 'metrics-protocol': 'http/protobuf', 'metrics-endpoint': `${receiver.origin}/v1/metrics`, 'metrics-export-interval': '100ms' })
  const child = spawn(process.execPath, [BIN, 'activator', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0',
    '--metrics-port', '0', '--autoscaler', `ws://127.0.0.1:${port}/`, '--source', 'api', '--observability-config-dir', dir,
    '--drain-seconds', '0', '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const reachable = (): number | undefined => latestPoint(receiver.points, 'kn.activator.stats.conn.reachable', { peer: 'autoscaler' })?.value
  const errors = (): number | undefined => latestPoint(receiver.points, 'kn.activator.stats.conn.errors', { peer: 'autoscaler' })?.value
  await until(() => reachable() === 1, 15_000, 'reachable 1 from the process')
  t.equal(errors(), undefined, 'no errors yet')
  // The autoscaler drops the connection and stays up: the pusher reconnects.
  for (const c of wss.clients) c.terminate()
  await until(() => errors() === 1, 5_000, 'one lost connection counted')
  await until(() => reachable() === 1 && wss.clients.size === 1, 5_000, 'reachable again after the reconnect')
})

// --host's default: every address on both families, as Go's ":8012" (Knative's queue-proxy and
// activator), so IPv6-only clusters reach Sluice. Over real sockets on ::1 and 127.0.0.1.
import { createServer as createNetServer } from 'node:net'
import t from 'tap'
import { Activator } from '../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { localAddressOf } from '../../src/config/listen-host.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { parseReadinessProbe } from '../../src/sidecar/readiness-probe-spec.ts'
import { Sidecar } from '../../src/sidecar/sidecar-server.ts'
import { createClient, send, spec, startApp } from '../activator/fixtures.ts'

const PORTS = ['--port', '0', '--admin-port', '0', '--metrics-port', '0']

/** True when this machine can listen on ::1 (some CI containers run without IPv6). */
function hasIpv6Loopback (): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer()
    s.once('error', () => { resolve(false) })
    s.listen(0, '::1', () => { s.close(() => { resolve(true) }) })
  })
}

const ipv6 = await hasIpv6Loopback()

t.test('the default --host is every address (empty), for the sidecar and the activator', async (t) => {
  t.equal(loadSidecarConfig([], { USER_PORT: '8080' }).config?.host, '')
  t.equal(loadActivatorConfig([], {}).config?.host, '')
  t.equal(loadSidecarConfig(['--host', '127.0.0.1'], { USER_PORT: '8080' }).config?.host, '127.0.0.1', '--host still narrows it')
  t.same(['', '0.0.0.0', '::', '::1', '10.1.2.3'].map(localAddressOf), ['127.0.0.1', '127.0.0.1', '127.0.0.1', '::1', '10.1.2.3'])
})

t.test('client -> activator -> sidecar -> app over ::1, and the same ports on 127.0.0.1', { skip: ipv6 ? false : 'no IPv6 loopback on this machine' }, async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('hello') })
  const sc = loadSidecarConfig(PORTS, { USER_PORT: String(app.port), CONTAINER_CONCURRENCY: '0' })
  if (sc.config === null) throw new Error(sc.problems.join('\n'))
  const probes = parseReadinessProbe(JSON.stringify({ tcpSocket: { port: app.port } }), { userPort: app.port, multiContainer: false })
  if ('problems' in probes) throw new Error(probes.problems.join('\n'))
  const sidecar = new Sidecar(sc.config, probes.specs, silentLogger())
  const sidecarPorts = await sidecar.listen()
  t.teardown(() => sidecar.close())

  const ac = loadActivatorConfig(PORTS, { POD_NAME: 'activator-test' })
  if (ac.config === null) throw new Error(ac.problems.join('\n'))
  const activator = new Activator(ac.config, silentLogger())
  const ports = await activator.listen()
  t.teardown(() => activator.close())
  activator.registry.upsert(spec('hello-00001', [`[::1]:${sidecarPorts.serving}`], 0, { hosts: ['hello.example.com'] }))

  const client = createClient(t)
  for (const host of ['[::1]', '127.0.0.1']) {
    const r = await send(client, `http://${host}:${ports.serving}`, { headers: { host: 'hello.example.com' } })
    t.equal(r.status, 200, `activator on ${host}`)
    t.equal(r.body, 'hello')
    t.equal((await send(client, `http://${host}:${sidecarPorts.serving}`)).body, 'hello', `sidecar on ${host}`)
    t.equal((await send(client, `http://${host}:${sidecarPorts.metrics}`, { path: '/metrics' })).status, 200, `sidecar metrics on ${host}`)
    t.equal((await send(client, `http://${host}:${ports.metrics}`, { path: '/metrics' })).status, 200, `activator metrics on ${host}`)
  }
})

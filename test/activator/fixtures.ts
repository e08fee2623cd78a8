// Test fixtures for the activator: a real Activator on 127.0.0.1 with OS-assigned ports, fake pods
// (a node:http server that answers the activator's probe like a sidecar), real Sidecars in front of a
// tiny app, and an HTTP client with unlimited connections. Everything closes in t.teardown.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { WebSocket } from 'ws'
import { Activator, type ActivatorDeps, type ActivatorPorts } from '../../src/activator/activator-server.ts'
import type { RevisionSpec } from '../../src/activator/revision-spec.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { parseReadinessProbe } from '../../src/sidecar/readiness-probe-spec.ts'
import { Sidecar } from '../../src/sidecar/sidecar-server.ts'

export interface Teardown { teardown (fn: () => unknown): void }

/** A ConfigMap as the kubelet mounts it: one file per key, in a temp directory removed in teardown. */
export function configMapDir (t: Teardown, keys: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-configmap-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  for (const [k, v] of Object.entries(keys)) writeFileSync(join(dir, k), v)
  return dir
}

export interface StartedActivator {
  activator: Activator
  ports: ActivatorPorts
  url: string
}

export async function startActivator (t: Teardown, argv: readonly string[] = [], deps: ActivatorDeps = {}, env: Record<string, string> = {}): Promise<StartedActivator> {
  const loaded = loadActivatorConfig(['--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', ...argv], { POD_NAME: 'activator-test', ...env })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const activator = new Activator(loaded.config, silentLogger(), deps)
  const ports = await activator.listen()
  t.teardown(() => activator.close())
  return { activator, ports, url: `http://127.0.0.1:${ports.serving}` }
}

export function spec (name: string, endpoints: string[], containerConcurrency: number, extra: Partial<RevisionSpec> = {}): RevisionSpec {
  return Object.freeze({
    namespace: 'default',
    name,
    containerConcurrency,
    endpoints,
    hosts: [],
    timeoutSeconds: null,
    lbPolicy: null,
    ...extra,
  })
}

export type AppHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface FakePod {
  server: Server
  port: number
  dest: string
  /** Answer the probe with 200 `queue` (else 503). */
  probeOk: boolean
  probes: number
  requests: number
  inFlight: number
  maxInFlight: number
  /** Headers of the last user request. */
  lastHeaders: IncomingMessage['headers'] | null
  close (): Promise<void>
}

/** Replies after `delayMs` with `pod <port>`. */
export function delayed (delayMs: number): AppHandler {
  return (req, res) => {
    req.resume()
    const timer = setTimeout(() => { res.end(`pod ${String(req.socket.localPort)}`) }, delayMs)
    res.on('close', () => { clearTimeout(timer) })
  }
}

/** A node:http server that answers the activator's probe like a sidecar and serves user requests. */
export async function startFakePod (t: Teardown, handler: AppHandler = delayed(0), probeOk = true): Promise<FakePod> {
  const server = createServer()
  const pod: FakePod = {
    server,
    port: 0,
    dest: '',
    probeOk,
    probes: 0,
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    lastHeaders: null,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }),
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['user-agent'] === 'Knative-Activator-Probe' && req.headers['k-network-probe'] === 'queue') {
      pod.probes++
      if (pod.probeOk) res.end('queue')
      else { res.statusCode = 503; res.end() }
      return
    }
    pod.requests++
    pod.lastHeaders = req.headers
    if (++pod.inFlight > pod.maxInFlight) pod.maxInFlight = pod.inFlight
    res.on('close', () => { pod.inFlight-- })
    handler(req, res)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address: AddressInfo | string | null = server.address()
  pod.port = address !== null && typeof address === 'object' ? address.port : 0
  pod.dest = `127.0.0.1:${pod.port}`
  t.teardown(() => pod.close())
  return pod
}

export interface AppServer {
  server: Server
  port: number
  inFlight: number
  maxInFlight: number
  requests: number
}

/** A plain user app (behind a real Sidecar). `onRequest` runs on each request start. */
export async function startApp (t: Teardown, handler: AppHandler, onRequest: () => void = () => {}): Promise<AppServer> {
  const app: AppServer = { server: createServer(), port: 0, inFlight: 0, maxInFlight: 0, requests: 0 }
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    app.requests++
    if (++app.inFlight > app.maxInFlight) app.maxInFlight = app.inFlight
    onRequest()
    res.on('close', () => { app.inFlight-- })
    handler(req, res)
  })
  await new Promise<void>((resolve) => { app.server.listen(0, '127.0.0.1', resolve) })
  const address: AddressInfo | string | null = app.server.address()
  app.port = address !== null && typeof address === 'object' ? address.port : 0
  t.teardown(() => { app.server.closeAllConnections(); app.server.close() })
  return app
}

export interface StartedSidecar {
  sidecar: Sidecar
  dest: string
}

/** A real Sluice sidecar (queue-proxy) in front of `userPort`. */
export async function startSidecar (t: Teardown, userPort: number, containerConcurrency: number): Promise<StartedSidecar> {
  const loaded = loadSidecarConfig(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0'],
    { USER_PORT: String(userPort), CONTAINER_CONCURRENCY: String(containerConcurrency), SERVING_POD: 'pod-test' })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const parsed = parseReadinessProbe(JSON.stringify({ tcpSocket: { port: userPort } }), { userPort, multiContainer: false })
  if ('problems' in parsed) throw new Error(parsed.problems.join('\n'))
  const sidecar = new Sidecar(loaded.config, parsed.specs, silentLogger())
  const ports = await sidecar.listen()
  t.teardown(() => sidecar.close())
  return { sidecar, dest: `127.0.0.1:${ports.serving}` }
}

export interface Reply {
  status: number
  body: string
  headers: Record<string, string | string[] | undefined>
}

/** An undici client with no connection limit, so hundreds of requests can be in flight at once. */
export function createClient (t: Teardown): Agent {
  const agent = new Agent({ connections: null, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 1_000 })
  t.teardown(() => agent.destroy())
  return agent
}

export interface SendOptions {
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
}

export async function send (agent: Agent, url: string, o: SendOptions = {}): Promise<Reply> {
  const res = await request(url + (o.path ?? '/'), {
    method: o.method ?? 'GET',
    headers: o.headers ?? {},
    body: o.body ?? null,
    dispatcher: agent,
    signal: o.signal ?? null,
  })
  const body = await res.body.text()
  return { status: res.statusCode, body, headers: res.headers }
}

/** Routing headers for revision `name` in namespace default. */
export function route (name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'knative-serving-namespace': 'default', 'knative-serving-revision': name, ...extra }
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

/** Polls `cond` every 10 ms until true or `timeoutMs` (then throws). */
export async function until (cond: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const start = performance.now()
  while (!cond()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** A websocket client, resolved once open; rejects with `status N` when the handshake is refused. */
export function openWebSocket (url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => { resolve(ws) })
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => { reject(new Error(`status ${String(res.statusCode)}`)) })
  })
}

/** Sends `text` and resolves with the next message (an echo server's answer). */
export function echoOnce (ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => { resolve(String(data)) })
    ws.send(text)
  })
}

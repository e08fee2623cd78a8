// Test fixtures: a real user-container server and a real Sidecar in front of it, on 127.0.0.1
// with OS-assigned ports, closed in teardown.
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { parseReadinessProbe } from '../../src/sidecar/readiness-probe-spec.ts'
import { Sidecar, type SidecarDeps, type SidecarPorts } from '../../src/sidecar/sidecar-server.ts'

export interface Teardown { teardown (fn: () => unknown): void }

export type AppHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface App {
  server: Server
  port: number
  /** Requests being handled right now, and the maximum seen. */
  inFlight: number
  maxInFlight: number
  requests: number
}

export async function startApp (t: Teardown, handler: AppHandler): Promise<App> {
  const app: App = { server: createServer(), port: 0, inFlight: 0, maxInFlight: 0, requests: 0 }
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    app.requests++
    app.inFlight++
    if (app.inFlight > app.maxInFlight) app.maxInFlight = app.inFlight
    res.on('close', () => { app.inFlight-- })
    handler(req, res)
  })
  await new Promise<void>((resolve) => { app.server.listen(0, '127.0.0.1', resolve) })
  app.port = (app.server.address() as AddressInfo).port
  t.teardown(() => { app.server.closeAllConnections(); app.server.close() })
  return app
}

export interface StartedSidecar {
  sidecar: Sidecar
  ports: SidecarPorts
  url: string
}

export async function startSidecar (t: Teardown, userPort: number, env: Record<string, string> = {}, argv: readonly string[] = [], deps: SidecarDeps = {}): Promise<StartedSidecar> {
  const loaded = loadSidecarConfig(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', ...argv],
    { USER_PORT: String(userPort), ...env })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const config = loaded.config
  const raw = config.readinessProbe !== '' ? config.readinessProbe : JSON.stringify({ tcpSocket: { port: userPort } })
  const parsed = parseReadinessProbe(raw, { userPort, multiContainer: false })
  if ('problems' in parsed) throw new Error(parsed.problems.join('\n'))
  const sidecar = new Sidecar(config, parsed.specs, silentLogger(), deps)
  const ports = await sidecar.listen()
  t.teardown(() => sidecar.close())
  return { sidecar, ports, url: `http://127.0.0.1:${ports.serving}` }
}

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One request over a fresh connection (no agent), so tests control concurrency exactly. */
export function send (url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; signal?: AbortSignal } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

/** Polls `cond` every 10 ms until true or `ms` elapse (then throws). */
export async function until (cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/**
 * Environment for a child `sluice` process: the test's env. When tap records coverage, NODE_OPTIONS
 * holds only its processinfo hook (`--import=.../processinfo/.../import.mjs`), which it keeps, so
 * the child records coverage of src/ too (the list of files travels in _TAPJS_PROCESSINFO_COV_FILES_);
 * bin/sluice runs under loader hooks (dynamic imports only). Otherwise NODE_OPTIONS goes, as before.
 */
export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  if (env._TAPJS_PROCESSINFO_COVERAGE_ !== '1') delete env.NODE_OPTIONS
  return env
}

// Starts the upstream and the proxies under test, each as its own process tree on 127.0.0.1, with its
// config, pid and log files in the run's temp dir (nothing under /etc or /var is touched).

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildGroup, StartedChild } from './child-group.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const SLUICE_BIN = join(REPO, 'bin', 'sluice')
const FALLBACK_UPSTREAM = join(REPO, 'loadtest', 'upstream-server.ts')
export const HOST = '127.0.0.1'
export const UPSTREAM_BODY_BYTES = 1024
const READY_TIMEOUT_MS = 15_000

/** First line the tool prints for `versionArgs` (stdout or stderr, whatever the exit code); null when it is not installed. */
export function hasBinary (name: string, versionArgs: readonly string[]): string | null {
  const r = spawnSync(name, versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 })
  if (r.error !== undefined) return null
  const text = `${r.stdout}\n${r.stderr}`.trim()
  return text === '' ? name : (text.split('\n')[0] ?? name).trim()
}

/** A port that was free a moment ago (bind :0, read it, close). Racy in principle; fine on loopback. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

function getStatus (port: number, headers: Readonly<Record<string, string>>): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: HOST, port, path: '/', agent: false, timeout: 1000, headers }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => { resolve(0) })
    req.on('timeout', () => { req.destroy() })
    req.end()
  })
}

/** Polls GET / (with `headers`) until it answers 200 (the proxy is up and reaches the upstream). */
export async function waitForOk (port: number, child: StartedChild, headers: Readonly<Record<string, string>> = {}): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  let exited = false
  void child.exited.then(() => { exited = true })
  while (performance.now() < deadline) {
    if (exited) throw new Error(`loadtest: ${child.name} exited during start (see its log)`)
    if (await getStatus(port, headers) === 200) return
    await sleep(50)
  }
  throw new Error(`loadtest: ${child.name} did not answer 200 on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms`)
}

export async function waitForListen (port: number): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: HOST, port }, () => { s.destroy(); resolve(true) })
      s.on('error', () => { resolve(false) })
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`loadtest: nothing listens on ${HOST}:${port}`)
}

export interface RunningServer {
  readonly label: string
  readonly port: number
  readonly child: StartedChild
  /** How it was started, for the report. */
  readonly command: string
}

/** nginx with one or more listening ports (the "pods"), all served by its single worker. */
export interface NginxPods extends RunningServer {
  /** Every port, `port` first. */
  readonly ports: readonly number[]
}

/**
 * nginx, 1 worker, `return 200` with a 1 KB body; keep-alive connections are never closed by count.
 * `podCount` > 1 adds listening ports to the same server block (the activator bench's "pods"; one
 * worker serves them all). `/healthz` answers 200 `queue`, what a Knative queue-proxy answers the
 * activator's probe (`K-Network-Probe: queue`), so the activator admits the ports as endpoints.
 */
export async function startNginx (group: ChildGroup, dir: string, podCount = 1): Promise<NginxPods> {
  const ports: number[] = []
  for (let i = 0; i < podCount; i++) ports.push(await freePort())
  const port = ports[0]
  if (port === undefined) throw new RangeError(`loadtest: podCount must be >= 1, got ${podCount}`)
  const prefix = join(dir, 'nginx')
  mkdirSync(join(prefix, 'logs'), { recursive: true })
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
${ports.map((p) => `    listen ${HOST}:${p} backlog=4096;`).join('\n')}
    location / {
      default_type text/plain;
      return 200 "${'x'.repeat(UPSTREAM_BODY_BYTES)}";
    }
    location /healthz {
      default_type text/plain;
      return 200 "queue";
    }
  }
}
`)
  const args = ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', conf]
  const child = group.start('nginx', 'nginx', args, { logPath: join(prefix, 'logs', 'stdout.log') })
  for (const p of ports) await waitForListen(p)
  await waitForOk(port, child)
  const what = podCount === 1 ? '' : `${podCount} ports, `
  return { label: 'nginx', port, ports, child, command: `nginx ${args.join(' ')} (worker_processes 1, ${what}return 200 with a ${UPSTREAM_BODY_BYTES}-byte body)` }
}

export async function startNodeUpstream (group: ChildGroup, dir: string): Promise<RunningServer> {
  const port = await freePort()
  const args = [FALLBACK_UPSTREAM, String(port), HOST]
  const child = group.start('node-upstream', process.execPath, args, { logPath: join(dir, 'node-upstream.log') })
  await waitForOk(port, child)
  return { label: 'node:http', port, child, command: `node loadtest/upstream-server.ts ${port} ${HOST}` }
}

/**
 * Exports `ref` of this repository (bin/, src/, package.json) into `dir` with `git archive`, and links
 * node_modules, so a committed version can be measured while the working tree is being edited. Read-only
 * on the repository. Returns the path of that copy's bin/sluice.
 */
export function exportSluiceRef (ref: string, dir: string): string {
  const out = join(dir, `sluice-${ref.replace(/[^A-Za-z0-9._-]/g, '_')}`)
  mkdirSync(out, { recursive: true })
  const tar = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', ref, 'bin', 'src', 'package.json'], { maxBuffer: 256 * 2 ** 20 })
  execFileSync('tar', ['-x', '-C', out], { input: tar })
  symlinkSync(join(REPO, 'node_modules'), join(out, 'node_modules'))
  return join(out, 'bin', 'sluice')
}

export interface SluiceOptions {
  /** bin/sluice to run (default: this working tree's). */
  readonly bin?: string
  readonly containerConcurrency: number
  readonly stats: boolean
  /** Extra Node flags for the sidecar process (e.g. --cpu-prof, --max-semi-space-size=32). */
  readonly nodeArgs: readonly string[]
  /** Extra environment (e.g. OBSERVABILITY_CONFIG). */
  readonly env?: Readonly<Record<string, string>>
}

export async function startSluice (group: ChildGroup, dir: string, name: string, upstreamPort: number, opts: SluiceOptions): Promise<RunningServer> {
  const port = await freePort()
  const adminPort = await freePort()
  const metricsPort = await freePort()
  const args = [
    ...opts.nodeArgs, opts.bin ?? SLUICE_BIN, 'sidecar',
    '--host', HOST, '--port', String(port), '--admin-port', String(adminPort), '--metrics-port', String(metricsPort),
    '--user-port', String(upstreamPort), '--container-concurrency', String(opts.containerConcurrency),
    '--drain-seconds', '0', '--log-level', 'warn',
  ]
  if (!opts.stats) args.push('--no-stats')
  const env = opts.env === undefined ? undefined : { ...process.env, ...opts.env }
  const child = group.start(name, process.execPath, args, { logPath: join(dir, `${name}.log`), cwd: REPO, env })
  await waitForOk(port, child)
  const envText = opts.env === undefined ? '' : Object.entries(opts.env).map(([k, v]) => `${k}='${v}' `).join('')
  return { label: name, port, child, command: `${envText}node ${args.join(' ').replace(opts.bin ?? SLUICE_BIN, 'bin/sluice')}` }
}

/** loadtest/baseline-proxy.ts: plain node:http + undici Pool.dispatch, `connections` upstream sockets. */
export async function startNodeBaseline (group: ChildGroup, dir: string, upstreamPort: number, connections: number, nodeArgs: readonly string[]): Promise<RunningServer> {
  const port = await freePort()
  const args = [...nodeArgs, join(REPO, 'loadtest', 'baseline-proxy.ts'), String(port), String(upstreamPort), String(connections)]
  const child = group.start('node-baseline', process.execPath, args, { logPath: join(dir, 'node-baseline.log') })
  await waitForOk(port, child)
  return { label: 'node-baseline', port, child, command: `node loadtest/baseline-proxy.ts ${port} ${upstreamPort} ${connections}` }
}

/**
 * HAProxy `threads` threads (default 1), one `server ... maxconn 10` per upstream port (the CC=10
 * equivalent; round-robin across them; maxconn holds across threads), keep-alive both sides.
 * Requests over the servers' maxconn wait in HAProxy's queue.
 */
export async function startHaproxy (group: ChildGroup, dir: string, upstreamPorts: number | readonly number[], maxconn = 10, threads = 1): Promise<RunningServer> {
  const ports = typeof upstreamPorts === 'number' ? [upstreamPorts] : upstreamPorts
  const port = await freePort()
  const hdir = join(dir, threads === 1 ? 'haproxy' : `haproxy-${threads}t`)
  mkdirSync(hdir, { recursive: true })
  const conf = join(hdir, 'haproxy.cfg')
  writeFileSync(conf, `global
  nbthread ${threads}
  maxconn 4096
  pidfile ${hdir}/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout queue 60s
frontend fe
  bind ${HOST}:${port}
  default_backend be
backend be
  balance roundrobin
${ports.map((p, i) => `  server up${i + 1} ${HOST}:${p} maxconn ${maxconn}`).join('\n')}
`)
  const args = ['-db', '-f', conf]
  const label = threads === 1 ? 'haproxy' : `haproxy-${threads}t`
  const child = group.start(label, 'haproxy', args, { logPath: join(hdir, 'haproxy.log') })
  await waitForOk(port, child)
  const servers = ports.length === 1 ? 'server' : `${ports.length} servers`
  return { label, port, child, command: `haproxy ${args.join(' ')} (nbthread ${threads}, ${servers} maxconn ${maxconn})` }
}

export interface ActivatorOptions {
  /** bin/sluice to run (default: this working tree's). */
  readonly bin?: string
  /** Extra Node flags for the activator process (e.g. --cpu-prof). */
  readonly nodeArgs: readonly string[]
  /** Extra activator flags (e.g. --queue-depth 100). */
  readonly extraArgs?: readonly string[]
  /** Serving port (a replica joining another's with --reuse-port); default a free one. */
  readonly port?: number
  /** Environment of the process (e.g. an image target's NODE_COMPILE_CACHE); default this one's. */
  readonly env?: NodeJS.ProcessEnv
  /** Working directory; default the repository. */
  readonly cwd?: string
}

export interface RunningActivator extends RunningServer {
  readonly adminPort: number
  readonly metricsPort: number
}

const h2cPortSupport = new Map<string, boolean>()

/**
 * `--h2c-port 0` where the activator has that port (8013 is taken by whoever runs first); an older
 * version (an --also-ref before it) would refuse the flag. Asked once per binary, from its --help.
 */
function h2cPortArgs (bin: string): string[] {
  let supported = h2cPortSupport.get(bin)
  if (supported === undefined) {
    const help = spawnSync(process.execPath, [bin, 'activator', '--help'], { encoding: 'utf8', timeout: 10_000 })
    supported = `${help.stdout}`.includes('--h2c-port')
    h2cPortSupport.set(bin, supported)
  }
  return supported ? ['--h2c-port', '0'] : []
}

/**
 * `bin/sluice activator` with the admin API as its only revision source. Ready once the admin API
 * answers GET /revisions; the caller registers revisions (PUT) and waits for traffic itself.
 */
export async function startActivator (group: ChildGroup, dir: string, name: string, opts: ActivatorOptions): Promise<RunningActivator> {
  const port = opts.port ?? await freePort()
  const adminPort = await freePort()
  const metricsPort = await freePort()
  const args = [
    ...opts.nodeArgs, opts.bin ?? SLUICE_BIN, 'activator',
    '--host', HOST, '--port', String(port), ...h2cPortArgs(opts.bin ?? SLUICE_BIN), '--admin-port', String(adminPort), '--metrics-port', String(metricsPort),
    '--log-level', 'warn', '--drain-seconds', '0', ...(opts.extraArgs ?? []),
  ]
  const child = group.start(name, process.execPath, args, { logPath: join(dir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`), cwd: opts.cwd ?? REPO, env: opts.env })
  const deadline = performance.now() + READY_TIMEOUT_MS
  let exited = false
  void child.exited.then(() => { exited = true })
  for (;;) {
    if (exited) throw new Error(`loadtest: ${name} exited during start (see its log)`)
    if ((await httpCall('GET', adminPort, '/revisions', null)).status === 200) break
    if (performance.now() > deadline) throw new Error(`loadtest: ${name}'s admin API did not answer on ${HOST}:${adminPort} within ${READY_TIMEOUT_MS} ms`)
    await sleep(50)
  }
  return { label: name, port, adminPort, metricsPort, child, command: `node ${args.join(' ').replace(opts.bin ?? SLUICE_BIN, 'bin/sluice')}` }
}

/** One HTTP/1.1 call on a fresh connection; status 0 when it failed. For admin APIs and scrapes, not load. */
export function httpCall (method: string, port: number, path: string, body: string | null, headers: Readonly<Record<string, string>> = {}, timeoutMs = 5000): Promise<{ status: number, body: string }> {
  return new Promise((resolve) => {
    const h: Record<string, string> = { ...headers }
    if (body !== null) { h['content-type'] = 'application/json'; h['content-length'] = String(Buffer.byteLength(body)) }
    const req = request({ host: HOST, port, path, method, agent: false, timeout: timeoutMs, headers: h }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (s: string) => { text += s })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
      res.on('error', () => { resolve({ status: 0, body: text }) })
    })
    req.on('error', () => { resolve({ status: 0, body: '' }) })
    req.on('timeout', () => { req.destroy() })
    req.end(body ?? undefined)
  })
}

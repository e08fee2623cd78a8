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

function getStatus (port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: HOST, port, path: '/', agent: false, timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => { resolve(0) })
    req.on('timeout', () => { req.destroy() })
    req.end()
  })
}

/** Polls GET / until it answers 200 (the proxy is up and reaches the upstream). */
export async function waitForOk (port: number, child: StartedChild): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS
  let exited = false
  void child.exited.then(() => { exited = true })
  while (performance.now() < deadline) {
    if (exited) throw new Error(`loadtest: ${child.name} exited during start (see its log)`)
    if (await getStatus(port) === 200) return
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

/** nginx, 1 worker, `return 200` with a 1 KB body; keep-alive connections are never closed by count. */
export async function startNginx (group: ChildGroup, dir: string): Promise<RunningServer> {
  const port = await freePort()
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
    listen ${HOST}:${port} backlog=4096;
    location / {
      default_type text/plain;
      return 200 "${'x'.repeat(UPSTREAM_BODY_BYTES)}";
    }
  }
}
`)
  const args = ['-p', prefix, '-e', join(prefix, 'logs', 'error.log'), '-c', conf]
  const child = group.start('nginx', 'nginx', args, { logPath: join(prefix, 'logs', 'stdout.log') })
  await waitForListen(port)
  await waitForOk(port, child)
  return { label: 'nginx', port, child, command: `nginx ${args.join(' ')} (worker_processes 1, return 200 with a ${UPSTREAM_BODY_BYTES}-byte body)` }
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
  const child = group.start(name, process.execPath, args, { logPath: join(dir, `${name}.log`), cwd: REPO })
  await waitForOk(port, child)
  return { label: name, port, child, command: `node ${args.join(' ').replace(opts.bin ?? SLUICE_BIN, 'bin/sluice')}` }
}

/** loadtest/baseline-proxy.ts: plain node:http + undici Pool.dispatch, `connections` upstream sockets. */
export async function startNodeBaseline (group: ChildGroup, dir: string, upstreamPort: number, connections: number, nodeArgs: readonly string[]): Promise<RunningServer> {
  const port = await freePort()
  const args = [...nodeArgs, join(REPO, 'loadtest', 'baseline-proxy.ts'), String(port), String(upstreamPort), String(connections)]
  const child = group.start('node-baseline', process.execPath, args, { logPath: join(dir, 'node-baseline.log') })
  await waitForOk(port, child)
  return { label: 'node-baseline', port, child, command: `node loadtest/baseline-proxy.ts ${port} ${upstreamPort} ${connections}` }
}

/** HAProxy 1 thread, `server ... maxconn 10` (the CC=10 equivalent), keep-alive both sides. */
export async function startHaproxy (group: ChildGroup, dir: string, upstreamPort: number): Promise<RunningServer> {
  const port = await freePort()
  const hdir = join(dir, 'haproxy')
  mkdirSync(hdir, { recursive: true })
  const conf = join(hdir, 'haproxy.cfg')
  writeFileSync(conf, `global
  nbthread 1
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
  server up ${HOST}:${upstreamPort} maxconn 10
`)
  const args = ['-db', '-f', conf]
  const child = group.start('haproxy', 'haproxy', args, { logPath: join(hdir, 'haproxy.log') })
  await waitForOk(port, child)
  return { label: 'haproxy', port, child, command: `haproxy ${args.join(' ')} (nbthread 1, server maxconn 10)` }
}

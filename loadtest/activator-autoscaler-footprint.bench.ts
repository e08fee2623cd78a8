// The activator's idle footprint with an autoscaler URL (as every activator in Knative runs), A/B in
// one run: each variant is a tree with bin/sluice (a checkout, or a staged image form with dist/)
// started as `sluice activator --source api --autoscaler ws://127.0.0.1:<port>` with node flags;
// the autoscaler is a `ws` server in this process. Per round, in rotating order: spawn, PUT a
// revision (CC=10, an endpoint served by this process), one request through it, wait for the stats
// websocket's first message, then RSS/anon 1500 ms later. Also: spawn to the websocket's connect.
// Prints only; loopback, bounded.
//
//   flock /tmp/sluice-bench.lock env ROUNDS=5 npx node loadtest/activator-autoscaler-footprint.bench.ts \
//     before=/tmp/ws-before 'after=/tmp/ws-after' 'no-autoscaler=/tmp/ws-after::off'
// A variant is name=DIR[:FLAGS[:off]]; `off` runs it without --autoscaler (a reference).

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { ChildGroup } from './harness/child-group.ts'
import { startRawPod } from './harness/raw-pod.ts'
import { rssMb } from './harness/spawn-ready.ts'
import { HOST, httpCall, startActivator } from './harness/targets.ts'

interface Variant { name: string, dir: string, flags: string[], autoscaler: boolean }
interface Sample { connectMs: number, rss: number, anon: number }

const ROUNDS = Number(process.env.ROUNDS ?? 3)
const IDLE_MS = 1_500
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function parseVariant (arg: string): Variant {
  const eq = arg.indexOf('=')
  const [dir = '', flags = '', off = ''] = arg.slice(eq + 1).split(':')
  return { name: arg.slice(0, eq), dir, flags: flags.split(/\s+/).filter((f) => f !== ''), autoscaler: off !== 'off' }
}

function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}


const variants = process.argv.slice(2).map(parseVariant)
const group = new ChildGroup()
const logDir = mkdtempSync(join(tmpdir(), 'sluice-as-footprint-'))
const results = new Map<string, Sample[]>(variants.map((v) => [v.name, []]))
const app = await startRawPod(HOST)
let connections = 0
let messages = 0
const wss = new WebSocketServer({ host: HOST, port: 0 })
await new Promise((resolve) => { wss.once('listening', resolve) })
wss.on('connection', (ws) => { connections++; ws.on('message', () => { messages++ }); ws.on('error', () => {}) })
const wssAddr = wss.address()
const statsPort = typeof wssAddr === 'object' && wssAddr !== null ? wssAddr.port : 0
const routing = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'idle' }
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length]
      const connectionsBefore = connections
      const messagesBefore = messages
      const spawnedAt = performance.now()
      const extraArgs = ['--source', 'api', ...(v.autoscaler ? ['--autoscaler', `ws://${HOST}:${statsPort}`] : [])]
      const a = await startActivator(group, logDir, v.name, { bin: join(v.dir, 'bin', 'sluice'), nodeArgs: v.flags, extraArgs, cwd: v.dir })
      let connectMs = 0
      if (v.autoscaler) {
        while (connections === connectionsBefore) await sleep(1)
        connectMs = performance.now() - spawnedAt
      }
      await httpCall('PUT', a.adminPort, '/revisions/default/idle', JSON.stringify({ containerConcurrency: 10, endpoints: [`${HOST}:${app.port}`] }))
      for (let k = 0; k < 200 && (await httpCall('GET', a.port, '/', null, routing)).status !== 200; k++) await sleep(25)
      if (v.autoscaler) while (messages === messagesBefore) await sleep(1)
      await sleep(IDLE_MS)
      const mem = rssMb(a.child.pid)
      await group.stop(a.child)
      results.get(v.name)?.push({ connectMs, rss: mem.rssMb, anon: mem.anonMb })
      console.log(`${r} ${v.name.padEnd(16)} spawn->ws connect ${connectMs.toFixed(0).padStart(4)} ms  idle RSS ${mem.rssMb.toFixed(1)} MB (anon ${mem.anonMb.toFixed(1)})`)
    }
  }
  for (const v of variants) {
    const s = results.get(v.name) ?? []
    console.log(`MEDIAN ${v.name.padEnd(16)} spawn->ws connect ${median(s.map((x) => x.connectMs)).toFixed(0).padStart(4)} ms  idle RSS ${median(s.map((x) => x.rss)).toFixed(1)} MB (anon ${median(s.map((x) => x.anon)).toFixed(1)})  [${s.map((x) => x.rss.toFixed(1)).join(' ')}]`)
  }
} finally {
  await group.stopAll()
  for (const c of wss.clients) c.terminate()
  wss.close()
  app.close()
  rmSync(logDir, { recursive: true, force: true })
}

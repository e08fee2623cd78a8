// The activator's footprint, builds and flags A/B in one run (issue 12 item 2): each variant is a tree
// with bin/sluice (a staged image form or a checkout) started as an activator with its node flags; a
// revision (CC=10, one nginx endpoint) is PUT, then per round, in rotating order: idle RSS/anon 1500 ms
// after the first 200, wrk -t1 -c50 with the routing headers, peak RSS (VmHWM), req/s, CPU us/request.
// `haproxy` (nbthread 1, maxconn 10) is the baseline. HEAPSTAT_OUT=<prefix> sends SIGUSR2 before and
// after the load (for a diagnostic preload given in the flags, e.g. one writing v8.getHeapSpaceStatistics).
// A variant whose name starts with `prod` runs as a Knative activator does in production instead:
// `--source kubernetes` through a kubeconfig (HTTPS with a CA, bearer token) against an in-process
// fake API server holding the revision (Revision + a ready EndpointSlice on the nginx), and
// `--autoscaler ws://` to an in-process websocket server taking its stats (the count received is
// printed). A variant's DIR/native/malloc-trim.node, when there (scripts/build-native.mjs), is passed as
// SLUICE_MALLOC_TRIM_ADDON, as the image does. Results: printed, and with OUT=<dir> written there as
// activator-footprint-<stamp>.{json,md}. Loopback, bounded.
//
//   flock /tmp/sluice-bench.lock env ROUNDS=5 DUR=5 OUT=loadtest/results npx node loadtest/activator-footprint.bench.ts \
//     before=/tmp/before 'after=/tmp/after:--max-semi-space-size=1 --no-concurrent-recompilation' 'prod=/tmp/after:...' haproxy
// A variant is name=DIR[:FLAGS].
import { join } from 'node:path'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { WebSocketServer } from 'ws'
import { endpointSlice, FakeKubeApi, knativeRevision, privateLabels, tokenKubeconfig } from '../test/activator/sources/fake-kube-api.ts'
import { makeCa, makeLeaf } from '../test/helpers/test-certs.ts'
import { fileStamp, machineInfo } from './harness/bench-run.ts'
import { ChildGroup, type StartedChild } from './harness/child-group.ts'
import { HOST, httpCall, startActivator, startNginx, startHaproxy } from './harness/targets.ts'
import { runWrk } from './harness/wrk-runner.ts'
import { rssMb } from './harness/spawn-ready.ts'
function cpuTicks (pid: number): number { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]) }
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const args = process.argv.slice(2)
const rounds = Number(process.env.ROUNDS ?? 2), dur = Number(process.env.DUR ?? 5)
const targets = args.map(a => { const i0 = a.indexOf('='); const name = i0 < 0 ? a : a.slice(0, i0), rest = i0 < 0 ? '' : a.slice(i0 + 1); const i1 = rest.indexOf(':'); const dir = i1 < 0 ? rest : rest.slice(0, i1), flags = i1 < 0 ? '' : rest.slice(i1 + 1); return { name, dir, flags: (flags ?? '').split(/\s+/).filter(Boolean) } })
const group = new ChildGroup()
const dir = mkdtempSync(join(tmpdir(), 'sluice-footprint-'))
interface Sample { idle: number, idleAnon: number, peak: number, endAnon: number, rps: number, us: number, err: number }
const res: Record<string, Sample[]> = {}
let api: FakeKubeApi | null = null
let stats: WebSocketServer | null = null
let statMessages = 0
try {
  const nginx = await startNginx(group, dir, 1)
  let prodArgs: string[] = []
  let prodEnv: Record<string, string> = {}
  if (targets.some((t) => t.name.startsWith('prod'))) {
    const ca = makeCa(dir, 'ca')
    api = new FakeKubeApi({ tls: makeLeaf(dir, ca, 'apiserver', ['kube.internal']) })
    const url = await api.start()
    api.authorize = (a) => a === 'Bearer bench-token'
    api.apply('revisions', knativeRevision('default', 'cold', { containerConcurrency: 10 }))
    api.apply('endpointslices', endpointSlice('default', 'cold-private-x', privateLabels('cold'), [{ ip: HOST, ready: true }], { port: nginx.port }))
    const kubeconfig = join(dir, 'kubeconfig')
    writeFileSync(kubeconfig, tokenKubeconfig(url, ca.cert, 'bench-token'))
    const wss = new WebSocketServer({ host: HOST, port: 0 })
    stats = wss
    await new Promise<void>((resolve) => { wss.once('listening', resolve) })
    wss.on('connection', (ws) => { ws.on('message', () => { statMessages++ }) })
    const address = wss.address()
    prodArgs = ['--source', 'kubernetes', '--autoscaler', `ws://${HOST}:${address !== null && typeof address === 'object' ? address.port : 0}`]
    prodEnv = { KUBECONFIG: kubeconfig, POD_NAME: 'activator-bench' }
  }
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length])
    for (const t of order) {
      let port: number
      let child: StartedChild
      const headers: string[] = []
      if (t.name === 'haproxy') { const h = await startHaproxy(group, dir, [nginx.port], 10); port = h.port; child = h.child }
      else {
        const prod = t.name.startsWith('prod')
        // As the image sets it (Dockerfile): an image form staged with its addon in native/ runs the malloc_trim.
        const addon = join(t.dir, 'native', 'malloc-trim.node')
        const imageEnv = existsSync(addon) ? { SLUICE_MALLOC_TRIM_ADDON: addon } : {}
        const a = await startActivator(group, dir, t.name, { bin: join(t.dir, 'bin', 'sluice'), nodeArgs: t.flags, ...(prod ? { extraArgs: prodArgs, env: { ...process.env, NODE_OPTIONS: '', ...prodEnv, ...imageEnv } } : { env: { ...process.env, ...imageEnv } }) })
        if (!prod) await httpCall('PUT', a.adminPort, '/revisions/default/cold', JSON.stringify({ containerConcurrency: 10, endpoints: [`${HOST}:${nginx.port}`] }))
        for (let i = 0; i < 200 && (await httpCall('GET', a.port, '/', null, { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'cold' })).status !== 200; i++) await sleep(25)
        headers.push('Knative-Serving-Namespace: default', 'Knative-Serving-Revision: cold'); port = a.port; child = a.child
      }
      await sleep(1500)
      const idle = rssMb(child.pid)
      if (process.env.HEAPSTAT_OUT) process.kill(child.pid, 'SIGUSR2')
      const cpu0 = cpuTicks(child.pid)
      const w = await runWrk(group, { url: `http://${HOST}:${port}/`, connections: 50, threads: 1, durationS: dur, headers })
      const end = rssMb(child.pid)
      const usPerReq = (cpuTicks(child.pid) - cpu0) * 10_000 / (w.reqPerSec * dur)
      if (process.env.HEAPSTAT_OUT) { process.kill(child.pid, 'SIGUSR2'); await sleep(300) }
      await group.stop(child)
      const rows = res[t.name] ?? []
      res[t.name] = rows
      rows.push({ idle: idle.rssMb, idleAnon: idle.anonMb, peak: end.hwmMb, endAnon: end.anonMb, rps: w.reqPerSec, us: usPerReq, err: w.errors + w.non2xx })
      console.log(`${r} ${t.name.padEnd(14)} idle ${idle.rssMb.toFixed(1)} (anon ${idle.anonMb.toFixed(1)}) peak ${end.hwmMb.toFixed(1)} endAnon ${end.anonMb.toFixed(1)} ${Math.round(w.reqPerSec)} req/s ${usPerReq.toFixed(1)} us/req err ${w.errors}/${w.non2xx}`)
    }
  }
  const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
  const summary = Object.entries(res).map(([name, v]) => ({ name, idle: med(v.map(x => x.idle)), idleAnon: med(v.map(x => x.idleAnon)), peak: med(v.map(x => x.peak)), endAnon: med(v.map(x => x.endAnon)), rps: med(v.map(x => x.rps)), us: med(v.map(x => x.us)), err: v.reduce((n, x) => n + x.err, 0) }))
  for (const m of summary) console.log(`MED ${m.name.padEnd(14)} idle ${m.idle.toFixed(1)} (anon ${m.idleAnon.toFixed(1)}) peak ${m.peak.toFixed(1)} endAnon ${m.endAnon.toFixed(1)} rps ${Math.round(m.rps)} us/req ${m.us.toFixed(1)} err ${m.err}`)
  if (stats !== null) console.log(`stat messages received by the autoscaler stand-in: ${statMessages}`)
  if (process.env.OUT) {
    const stamp = fileStamp(new Date())
    const base = join(process.env.OUT, `activator-footprint-${stamp}`)
    writeFileSync(`${base}.json`, JSON.stringify({ command: process.argv.slice(2), rounds, durationS: dur, machine: machineInfo(), statMessages, samples: res, medians: summary }, null, 2) + '\n')
    const rows = summary.map((m) => `| ${m.name} | ${m.idle.toFixed(1)} (${m.idleAnon.toFixed(1)}) | ${m.peak.toFixed(1)} | ${m.endAnon.toFixed(1)} | ${Math.round(m.rps)} | ${m.us.toFixed(1)} | ${m.err} |`)
    writeFileSync(`${base}.md`, [
      `# Activator footprint, ${stamp}`, '',
      `\`loadtest/activator-footprint.bench.ts\` ${process.argv.slice(2).join(' ')}; ${rounds} rounds of ${dur} s, wrk -t1 -c50 at CC=10 against one nginx; medians. MB are MiB; CPU is the proxy's utime+stime per request.`,
      stats === null ? '' : `\`prod*\` variants: --source kubernetes (HTTPS kubeconfig, fake API server) and --autoscaler ws:// (${statMessages} stat messages received in all).`,
      '', '| variant | idle RSS (anon) | peak RSS | anon after load | req/s | CPU us/req | errors |', '|---|---:|---:|---:|---:|---:|---:|', ...rows, '',
    ].join('\n'))
    console.log(`wrote ${base}.md`)
  }
} finally {
  stats?.close()
  await api?.close()
  await group.stopAll()
  rmSync(dir, { recursive: true, force: true })
}

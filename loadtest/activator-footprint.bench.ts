// The activator's footprint, builds and flags A/B in one run (issue 12 item 2): each variant is a tree
// with bin/sluice (a staged image form or a checkout) started as an activator with its node flags; a
// revision (CC=10, one nginx endpoint) is PUT, then per round, in rotating order: idle RSS/anon 1500 ms
// after the first 200, wrk -t1 -c50 with the routing headers, peak RSS (VmHWM), req/s, CPU us/request.
// `haproxy` (nbthread 1, maxconn 10) is the baseline. HEAPSTAT_OUT=<prefix> sends SIGUSR2 before and
// after the load (for a diagnostic preload given in the flags, e.g. one writing v8.getHeapSpaceStatistics).
// Prints only; loopback, bounded.
//
//   flock /tmp/sluice-bench.lock env ROUNDS=5 DUR=5 npx node loadtest/activator-footprint.bench.ts \
//     before=/tmp/before 'after=/tmp/after:--max-semi-space-size=1 --no-concurrent-recompilation' haproxy
// A variant is name=DIR[:FLAGS].
import { join } from 'node:path'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
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
try {
  const nginx = await startNginx(group, dir, 1)
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length])
    for (const t of order) {
      let port: number
      let child: StartedChild
      const headers: string[] = []
      if (t.name === 'haproxy') { const h = await startHaproxy(group, dir, [nginx.port], 10); port = h.port; child = h.child }
      else {
        const a = await startActivator(group, dir, t.name, { bin: join(t.dir, 'bin', 'sluice'), nodeArgs: t.flags })
        await httpCall('PUT', a.adminPort, '/revisions/default/cold', JSON.stringify({ containerConcurrency: 10, endpoints: [`${HOST}:${nginx.port}`] }))
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
  for (const [k, v] of Object.entries(res)) console.log(`MED ${k.padEnd(14)} idle ${med(v.map(x => x.idle)).toFixed(1)} (anon ${med(v.map(x => x.idleAnon)).toFixed(1)}) peak ${med(v.map(x => x.peak)).toFixed(1)} endAnon ${med(v.map(x => x.endAnon)).toFixed(1)} rps ${Math.round(med(v.map(x => x.rps)))} us/req ${med(v.map(x => x.us)).toFixed(1)} err ${v.reduce((n, x) => n + x.err, 0)}`)
} finally {
  await group.stopAll()
  rmSync(dir, { recursive: true, force: true })
}

// Node/V8 flags and env for the sidecar, A/B in one run (issue 12 item 2): each variant is the image form
// (a staged build: dist/, bin/, package.json, node_modules) started with its flags and env, its compile
// cache warmed for those flags; per round, in rotating order: spawn -> ready (harness/spawn-ready.ts),
// idle RSS/anon 1500 ms later, wrk -t1 -c50 (CC=10, one nginx), peak RSS (VmHWM), req/s, CPU us/request
// (utime+stime of the process over the run). `floor` = Node's bare net server, `direct` = wrk at nginx
// (the req/s ratio is paired by round). Round 0 is a warm-up. Prints only; loopback, bounded.
//
//   node scripts/build.mjs /tmp/img/dist && cp -r bin package.json /tmp/img && ln -s $PWD/node_modules /tmp/img/
//   flock /tmp/sluice-bench.lock env IMG=/tmp/img ROUNDS=5 DUR=5 npx node loadtest/node-flags.bench.ts \
//     floor direct 'base=--max-semi-space-size=1 --no-concurrent-recompilation' \
//     'maglev-only=--max-semi-space-size=1 --no-concurrent-recompilation --max-opt=2' \
//     'tunables=--max-semi-space-size=1 --no-concurrent-recompilation|GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536'
// A variant is name=FLAGS[|ENV=value ...]; SNAP=<blob> in its env starts it from a startup snapshot
// (`node --snapshot-blob <blob> sidecar ...`) instead of bin/sluice; IMG=<dir> in its env runs that staged
// image form instead of $IMG (two builds in one run, e.g. a bundle option).
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { ChildGroup } from './harness/child-group.ts'
import { HOST, startNginx, freePort } from './harness/targets.ts'
import { runWrk } from './harness/wrk-runner.ts'
import { rssMb, spawnUntilReady } from './harness/spawn-ready.ts'
function cpuTicks (pid: number): number { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]) }
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const IMG = process.env.IMG ?? ''
if (IMG === '') { process.stderr.write('node-flags.bench: IMG=<staged image form> is required (see the top of the file)\n'); process.exit(2) }
const rounds = Number(process.env.ROUNDS ?? 3), dur = Number(process.env.DUR ?? 5), load = process.env.LOAD !== '0'
const FLOOR_JS = "const b=Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nqueue');require('net').createServer((s)=>{s.on('data',()=>{s.write(b)});s.on('error',()=>{})}).listen(+process.argv[1],'127.0.0.1')"
const targets = process.argv.slice(2).map((a) => {
  const i = a.indexOf('='); const name = i < 0 ? a : a.slice(0, i); const rest = i < 0 ? '' : a.slice(i + 1)
  const [flags, envs] = rest.split('|')
  const env: Record<string, string> = {}
  for (const kv of (envs ?? '').split(/\s+/).filter(Boolean)) { const j = kv.indexOf('='); env[kv.slice(0, j)] = kv.slice(j + 1) }
  return { name, flags: (flags ?? '').split(/\s+/).filter(Boolean), env }
})
const group = new ChildGroup()
const dir = mkdtempSync(join(tmpdir(), 'sluice-flags-'))
interface Sample { ready: number, idle: number, anon: number, peak: number, endAnon: number, rps: number, us: number, err: number, round: number }
const res: Record<string, Sample[]> = {}
try {
  const nginx = await startNginx(group, dir, 1)
  // warm a compile cache per variant (valid only for its flags)
  for (const t of targets) {
    if (t.name === 'floor' || t.name === 'direct' || t.env.SNAP !== undefined) continue
    const img = t.env.IMG ?? IMG
    t.env.NODE_COMPILE_CACHE ??= join(img, `.cc-${t.name}`)
    t.env.NODE_ENV = 'production'
    execFileSync(process.execPath, [...t.flags, join(img, 'bin', 'sluice'), 'sidecar', '--help'], { cwd: img, stdio: 'ignore', env: { ...process.env, ...t.env } })
  }
  for (let r = 0; r <= rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length])
    for (const t of order) {
      if (t.name === 'direct') {
        if (r === 0) continue
        const w = await runWrk(group, { url: `http://${HOST}:${nginx.port}/`, connections: 50, threads: 1, durationS: dur })
        const rows = res[t.name] ?? []
        res[t.name] = rows
        rows.push({ ready: NaN, idle: NaN, anon: NaN, peak: NaN, endAnon: NaN, rps: w.reqPerSec, us: NaN, err: w.errors + w.non2xx, round: r })
        console.log(`${r} direct ${Math.round(w.reqPerSec)} req/s`)
        continue
      }
      const p = { serving: await freePort(), admin: await freePort(), metrics: await freePort() }
      const args = t.name === 'floor' ? ['-e', FLOOR_JS, String(p.serving)] : [...t.flags, ...(t.env.SNAP !== undefined ? ['--snapshot-blob', t.env.SNAP] : [join(t.env.IMG ?? IMG, 'bin', 'sluice')]), 'sidecar', '--host', HOST, '--port', String(p.serving), '--admin-port', String(p.admin), '--metrics-port', String(p.metrics), '--user-port', String(nginx.port), '--container-concurrency', '10', '--drain-seconds', '0', '--log-level', 'warn']
      const s = await spawnUntilReady(group, t.name, process.execPath, args, p.serving, { env: { ...process.env, ...t.env }, cwd: t.env.IMG ?? IMG, logPath: join(dir, `${t.name}.log`) })
      await sleep(1500)
      const idle = rssMb(s.child.pid)
      let peak = NaN, rps = NaN, err = 0, endAnon = NaN, us = NaN
      if (load && t.name !== 'floor' && r > 0) {
        const c0 = cpuTicks(s.child.pid)
        const w = await runWrk(group, { url: `http://${HOST}:${p.serving}/`, connections: 50, threads: 1, durationS: dur })
        us = (cpuTicks(s.child.pid) - c0) * 10_000 / (w.reqPerSec * dur)
        const end = rssMb(s.child.pid); peak = end.hwmMb; endAnon = end.anonMb; rps = w.reqPerSec; err = w.errors + w.non2xx
      }
      await group.stop(s.child)
      if (r === 0) continue
      const rows = res[t.name] ?? []
      res[t.name] = rows
      rows.push({ ready: s.readyMs, idle: idle.rssMb, anon: idle.anonMb, peak, endAnon, rps, us, err, round: r })
      console.log(`${r} ${t.name.padEnd(12)} ready ${s.readyMs.toFixed(1)} idle ${idle.rssMb.toFixed(1)} (anon ${idle.anonMb.toFixed(1)}) peak ${peak.toFixed(1)} endAnon ${endAnon.toFixed(1)} ${Math.round(rps)} req/s ${us.toFixed(1)} us/req err ${err}`)
    }
  }
  const med = (a: number[]) => { const s = [...a].filter(Number.isFinite).sort((x, y) => x - y); if (!s.length) return NaN; return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
  const directByRound = new Map((res.direct ?? []).map((x) => [x.round, x.rps]))
  for (const [k, v] of Object.entries(res)) if (directByRound.size) console.log(`RATIO ${k.padEnd(12)} vs direct median ${med(v.map((x) => x.rps / (directByRound.get(x.round) ?? NaN))).toFixed(3)}`)
  for (const [k, v] of Object.entries(res)) console.log(`MED ${k.padEnd(12)} ready ${med(v.map(x => x.ready)).toFixed(1)} idle ${med(v.map(x => x.idle)).toFixed(1)} (anon ${med(v.map(x => x.anon)).toFixed(1)}) peak ${med(v.map(x => x.peak)).toFixed(1)} endAnon ${med(v.map(x => x.endAnon)).toFixed(1)} rps ${Math.round(med(v.map(x => x.rps)))} us/req ${med(v.map(x => x.us)).toFixed(1)} err ${v.reduce((n, x) => n + x.err, 0)}`)
} finally {
  await group.stopAll()
  rmSync(dir, { recursive: true, force: true })
}

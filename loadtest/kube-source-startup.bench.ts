// The activator's `--source kubernetes` start (issue 12): time from spawn to its "activator listening"
// line (the source's first lists done: start waits for them) and idle RSS/anon 3 s later, for each tree
// given, against one in-process fake API server (test/activator/sources/fake-kube-api.ts, REVISIONS
// Knative Revisions with one EndpointSlice each). Plain HTTP given as `--kubernetes-server` (kubectl
// proxy's form); with TLS=1, HTTPS with a CA made by openssl, reached through a kubeconfig file
// (KUBECONFIG: CA data, bearer token), the form a pod's credentials take. Rounds rotate the order of
// the trees. Prints only; loopback, bounded.
//
//   flock /tmp/sluice-bench.lock env ROUNDS=5 [TLS=1] npx node loadtest/kube-source-startup.bench.ts before=/tmp/kube-before after=/work/main
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { endpointSlice, FakeKubeApi, knativeRevision, privateLabels, tokenKubeconfig } from '../test/activator/sources/fake-kube-api.ts'
import { makeCa, makeLeaf } from '../test/helpers/test-certs.ts'
import { rssMb } from './harness/spawn-ready.ts'

const rounds = Number(process.env.ROUNDS ?? 3)
const revisions = Number(process.env.REVISIONS ?? 50)
const trees = process.argv.slice(2).map((a) => { const i = a.indexOf('='); return { name: a.slice(0, i), dir: a.slice(i + 1) } })
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Sample { readyMs: number, rss: number, anon: number }

/** `--kubernetes-server URL`, or (TLS) a kubeconfig file. */
interface Target { args: string[], env: Record<string, string> }

async function startOnce (dir: string, target: Target): Promise<Sample> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [join(dir, 'bin', 'sluice'), 'activator', '--source', 'kubernetes', ...target.args,
    '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, POD_NAME: 'kube-startup-bench', NODE_OPTIONS: '', ...target.env } })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { reject(new Error('not ready in 20 s')) }, 20_000)
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('"activator listening"')) { clearTimeout(timer); resolve(performance.now() - t0) }
      })
      void exited.then(() => { clearTimeout(timer); reject(new Error('exited before listening:\n' + out)) })
    })
    await sleep(3000)
    const m = rssMb(child.pid ?? 0)
    return { readyMs, rss: m.rssMb, anon: m.anonMb }
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

const work = mkdtempSync(join(tmpdir(), 'sluice-kube-bench-'))
const tls = process.env.TLS === '1'
const ca = tls ? makeCa(work, 'ca') : null
const api = new FakeKubeApi(ca === null ? {} : { tls: makeLeaf(work, ca, 'apiserver', ['kube.internal']) })
const url = await api.start()
let target: Target = { args: ['--kubernetes-server', url], env: {} }
if (ca !== null) {
  api.authorize = (a) => a === 'Bearer bench-token'
  const kubeconfig = join(work, 'config')
  writeFileSync(kubeconfig, tokenKubeconfig(url, ca.cert, 'bench-token'))
  target = { args: [], env: { KUBECONFIG: kubeconfig } }
}
for (let i = 0; i < revisions; i++) {
  const name = `rev-${String(i).padStart(3, '0')}`
  api.apply('revisions', knativeRevision('default', name, { containerConcurrency: 10 }))
  api.apply('endpointslices', endpointSlice('default', `${name}-private-x`, privateLabels(name), [{ ip: `10.0.${i >> 8}.${i & 255}`, ready: true }]))
}
const res: Record<string, Sample[]> = {}
try {
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < trees.length; k++) {
      const t = trees[(k + r) % trees.length]
      const s = await startOnce(t.dir, target)
      const rows = res[t.name] ?? []
      res[t.name] = rows
      rows.push(s)
      console.log(`${r} ${t.name.padEnd(10)} ready ${s.readyMs.toFixed(0)} ms, idle RSS ${s.rss.toFixed(1)} MB (anon ${s.anon.toFixed(1)})`)
    }
  }
  const med = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
  for (const [k, v] of Object.entries(res)) {
    console.log(`MED ${k.padEnd(10)} ready ${med(v.map((x) => x.readyMs)).toFixed(0)} ms, idle RSS ${med(v.map((x) => x.rss)).toFixed(1)} MB (anon ${med(v.map((x) => x.anon)).toFixed(1)}) over ${v.length}`)
  }
} finally {
  await api.close()
  rmSync(work, { recursive: true, force: true })
}

// The container image runs the compiled dist/ with no src/: check that form starts and proxies.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv, send, startApp, until } from '../helpers/sidecar-fixture.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

t.test('the compiled build runs without src/: --version, and a sidecar that proxies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-build-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/lib/tsc.js'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { stdio: 'inherit', env: childEnv() })
  cpSync(join(ROOT, 'src/autoscaler/status-page.html'), join(dir, 'dist/autoscaler/status-page.html'))
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  const bin = join(dir, 'bin/sluice')
  t.match(execFileSync(process.execPath, [bin, '--version'], { env: childEnv(), encoding: 'utf8' }), /^sluice \d/)

  const app = await startApp(t, (_req, res) => { res.end('from app') })
  const child = spawn(process.execPath, [bin, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(app.port) }), stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"'), 10_000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  t.equal((await send(`http://127.0.0.1:${port}/`)).body, 'from app')
  child.kill('SIGTERM')
  t.equal(await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) }), 0)
})

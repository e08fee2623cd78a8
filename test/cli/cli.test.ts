import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv } from '../helpers/sidecar-fixture.ts'

const BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))

function run (args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: childEnv(env), encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('--version and --help', async (t) => {
  const v = run(['--version'])
  t.equal(v.code, 0)
  t.match(v.stdout, /^sluice \d+\.\d+\.\d+/)
  const h = run(['--help'])
  t.equal(h.code, 0)
  for (const mode of ['sidecar', 'activator', 'autoscaler', 'up']) t.match(h.stdout, mode)
  const sh = run(['sidecar', '--help'])
  t.equal(sh.code, 0)
  t.match(sh.stdout, /CONTAINER_CONCURRENCY/)
  t.match(sh.stdout, /--queue-depth/)
})

t.test('a bad value fails at start with one readable line per problem and exit 2', async (t) => {
  const r = run(['sidecar', '--metrics-port', 'nine'], { CONTAINER_CONCURRENCY: 'abc', USER_PORT: '8080' })
  t.equal(r.code, 2)
  const lines = r.stderr.trim().split('\n')
  t.same(lines.sort(), [
    'config: --metrics-port must be an integer between 0 and 65535, got "nine"',
    'config: CONTAINER_CONCURRENCY must be an integer >= 0, got "abc"',
  ])
})

t.test('a bad readiness probe fails at start', async (t) => {
  const r = run(['sidecar'], { SERVING_READINESS_PROBE: '{not json' })
  t.equal(r.code, 2)
  t.match(r.stderr, /SERVING_READINESS_PROBE/)
})

t.test('unknown mode and unknown flag exit 2', async (t) => {
  t.equal(run(['nope']).code, 2)
  const r = run(['sidecar', '--frobnicate'])
  t.equal(r.code, 2)
  t.match(r.stderr, /unknown flag --frobnicate/)
})

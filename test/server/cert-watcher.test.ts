import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { CertificateLoadError } from '../../src/shared/errors.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { CertWatcher } from '../../src/server/cert-watcher.ts'

// The watcher's contract with plain files and a fake `install` (which throws for a pair marked bad);
// the real TLS swap is covered over sockets in tls.test.ts.

interface Line { level: number; msg: string; err?: { message: string } }

function setup (t: { teardown (fn: () => unknown): void }, withCa = false) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-certw-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const certPath = join(dir, 'tls.crt')
  const keyPath = join(dir, 'tls.key')
  const lines: Line[] = []
  const installed: string[] = []
  const timers = new ManualTimers(new ManualClock())
  const watcher = new CertWatcher({
    certPath,
    keyPath,
    caPath: withCa ? join(dir, 'ca.crt') : null,
    intervalMs: 60_000,
    timers,
    logger: pino({ level: 'info' }, { write (s: string) { lines.push(JSON.parse(s) as Line) } }),
    install (cert, key, ca) {
      if (key.toString() === 'bad') throw new Error('key values mismatch')
      installed.push(`${cert.toString()}+${key.toString()}${ca === null ? '' : `+${ca.toString()}`}`)
    },
  })
  t.teardown(() => { watcher.stop() })
  const write = (cert: string, key: string): void => { writeFileSync(certPath, cert); writeFileSync(keyPath, key) }
  const writeCa = (ca: string): void => { writeFileSync(join(dir, 'ca.crt'), ca) }
  return { watcher, timers, lines, installed, write, writeCa, keyPath, dir }
}

t.test('installs the first pair, then only pairs that changed; a bad pair is logged and the old one stays', async (t) => {
  const { watcher, lines, installed, write } = setup(t)
  write('c1', 'k1')
  await watcher.start()
  t.same(installed, ['c1+k1'])
  t.equal(await watcher.check(), false, 'unchanged files: nothing to do')
  write('c2', 'k2')
  t.equal(await watcher.check(), true)
  t.same(installed, ['c1+k1', 'c2+k2'])
  t.match(lines.at(-1), { level: 30, msg: 'TLS certificate and/or key changed on disk and were reloaded' })

  write('c3', 'bad')
  t.equal(await watcher.check(), false)
  t.same(installed, ['c1+k1', 'c2+k2'], 'bad pair not installed')
  t.match(lines.at(-1), { level: 50, msg: 'cannot reload the TLS certificate; keeping the current one', err: { message: /key values mismatch/ } })
  t.equal(await watcher.check(), false, 'retried on the next tick, still bad')
  t.equal(lines.filter((l) => l.level === 50).length, 2, 'logged each time, as Knative')

  write('c3', 'k3')
  t.equal(await watcher.check(), true, 'fixed files go in')
  t.same(installed.at(-1), 'c3+k3')
})

t.test('with a CA path: the CA is optional, read with the pair, and a CA change alone reinstalls', async (t) => {
  const { watcher, installed, write, writeCa, dir } = setup(t, true)
  write('c1', 'k1')
  await watcher.start()
  t.same(installed, ['c1+k1'], 'no ca.crt: installed with a null CA')
  writeCa('ca1')
  t.equal(await watcher.check(), true, 'a CA appearing is a change')
  t.same(installed.at(-1), 'c1+k1+ca1')
  t.equal(await watcher.check(), false)
  writeCa('ca2')
  t.equal(await watcher.check(), true, 'a rotated CA alone is a change')
  t.same(installed.at(-1), 'c1+k1+ca2')
  rmSync(join(dir, 'ca.crt'))
  t.equal(await watcher.check(), true, 'a CA removed is a change too')
  t.same(installed.at(-1), 'c1+k1')
})

t.test('a file missing on reload is logged, not thrown; the old pair stays', async (t) => {
  const { watcher, lines, installed, write, keyPath } = setup(t)
  write('c1', 'k1')
  await watcher.start()
  rmSync(keyPath)
  t.equal(await watcher.check(), false)
  t.same(installed, ['c1+k1'])
  t.match(lines.at(-1), { level: 50, err: { message: /cannot read the TLS certificate or key: ENOENT/ } })
})

t.test('the first pair must load: start() rejects with CertificateLoadError', async (t) => {
  const { watcher, write } = setup(t)
  await t.rejects(watcher.start(), CertificateLoadError, 'no files')
  write('c1', 'bad')
  await t.rejects(watcher.start(), { code: 'SLUICE_ERR_TLS_CERT_LOAD', message: /key values mismatch/ }, 'a pair that does not load')
})

t.test('ticks every interval until stopped', async (t) => {
  const { watcher, timers, installed, write } = setup(t)
  write('c1', 'k1')
  await watcher.start()
  t.equal(timers.size, 1)
  write('c2', 'k2')
  await timers.advance(59_999)
  t.same(installed, ['c1+k1'], 'not before the interval')
  await timers.advance(1)
  // The tick reads the files asynchronously (thread pool): wait for the install, bounded in real time.
  const deadline = performance.now() + 5000
  while (installed.length < 2 && performance.now() < deadline) await new Promise((resolve) => { setTimeout(resolve, 5) })
  t.same(installed, ['c1+k1', 'c2+k2'])
  watcher.stop()
  t.equal(timers.size, 0)
})

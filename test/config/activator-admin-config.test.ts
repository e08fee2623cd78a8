import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'

function dir (t: { teardown (fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-admin-config-'))
  t.teardown(() => { rmSync(d, { recursive: true, force: true }) })
  return d
}

t.test('the admin port defaults to loopback, without a token', async (t) => {
  const { config, problems } = loadActivatorConfig([], {})
  t.same(problems, [])
  t.match(config, { adminHost: '127.0.0.1', adminTokenFile: '', adminToken: '', source: 'api' })
})

t.test('--admin-token-file is read at start (trimmed); a missing or empty file is a config problem', async (t) => {
  const d = dir(t)
  const good = join(d, 'token')
  writeFileSync(good, 'abc123\n')
  t.match(loadActivatorConfig(['--admin-token-file', good], {}).config, { adminTokenFile: good, adminToken: 'abc123' })

  const empty = join(d, 'empty')
  writeFileSync(empty, ' \n')
  const missing = join(d, 'missing')
  t.same(loadActivatorConfig(['--admin-token-file', empty], {}).problems, [`config: --admin-token-file "${empty}" cannot be used: ${empty} is empty`])
  const problems = loadActivatorConfig(['--admin-token-file', missing], {}).problems
  t.equal(problems.length, 1)
  t.match(problems[0], `config: --admin-token-file "${missing}" cannot be used: ENOENT`)
  const twoWords = join(d, 'two')
  writeFileSync(twoWords, 'a b')
  t.match(loadActivatorConfig(['--admin-token-file', twoWords], {}).problems, [/has no blanks/])
})

t.test('a writable API on a non-loopback address needs a token', async (t) => {
  t.same(loadActivatorConfig(['--admin-host', '0.0.0.0'], {}).problems, [
    'config: --admin-host 0.0.0.0 would let anyone who reaches it change where revisions\' traffic goes; give --admin-token-file too, or keep the default 127.0.0.1',
  ])
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) t.same(loadActivatorConfig(['--admin-host', host], {}).problems, [], host)
  const token = join(dir(t), 'token')
  writeFileSync(token, 'x')
  t.same(loadActivatorConfig(['--admin-host', '::', '--admin-token-file', token], {}).problems, [], 'with a token')
  t.same(loadActivatorConfig(['--admin-host', '0.0.0.0', '--source', 'kubernetes'], {}).problems, [], 'read-only API: no token needed')
  t.same(loadActivatorConfig(['--admin-host', ''], {}).problems, ['config: --admin-host must not be empty (default 127.0.0.1)'])
})

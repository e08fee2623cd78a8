import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { parseNetworkConfigMap } from '../../src/config/network-configmap.ts'

t.test('mesh-compatibility-mode as knative.dev/networking asMode reads it', async (t) => {
  const table: Array<[string | undefined, string, number]> = [
    [undefined, 'auto', 0],
    ['enabled', 'enabled', 0],
    ['Disabled', 'disabled', 0],
    ['AUTO', 'auto', 0],
    ['on', 'auto', 1],
    ['enabled\n', 'auto', 1],
  ]
  for (const [raw, mode, warnings] of table) {
    const w: string[] = []
    const data = new Map<string, string>()
    if (raw !== undefined) data.set('mesh-compatibility-mode', raw)
    t.equal(parseNetworkConfigMap(data, w), mode, JSON.stringify(raw))
    t.equal(w.length, warnings)
  }
  const w: string[] = []
  parseNetworkConfigMap(new Map([['mesh-compatibility-mode', 'on']]), w)
  t.same(w, ['config-network: mesh-compatibility-mode "on" is not enabled, disabled or auto; using auto (as Knative does)'])
})

t.test('--network-config-dir and --mesh-compatibility-mode set the activator\'s mode (default auto)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-config-network-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const kube = ['--source', 'kubernetes']
  t.equal(loadActivatorConfig(kube, {}).config?.meshCompatibilityMode, 'auto')
  t.equal(loadActivatorConfig([...kube, '--network-config-dir', dir], {}).config?.meshCompatibilityMode, 'auto', 'an empty ConfigMap: auto')
  writeFileSync(join(dir, 'mesh-compatibility-mode'), 'enabled')
  t.equal(loadActivatorConfig([...kube, '--network-config-dir', dir], {}).config?.meshCompatibilityMode, 'enabled')
  t.equal(loadActivatorConfig([...kube, '--mesh-compatibility-mode', 'disabled'], {}).config?.meshCompatibilityMode, 'disabled')
  writeFileSync(join(dir, 'mesh-compatibility-mode'), 'sometimes')
  const lenient = loadActivatorConfig([...kube, '--network-config-dir', dir], {})
  t.equal(lenient.config?.meshCompatibilityMode, 'auto')
  t.match(lenient.config?.warnings, [/"sometimes" is not enabled, disabled or auto/])

  t.same(loadActivatorConfig([...kube, '--mesh-compatibility-mode', 'maybe'], {}).problems, ['config: --mesh-compatibility-mode must be one of enabled|disabled|auto, got "maybe"'])
  writeFileSync(join(dir, 'mesh-compatibility-mode'), 'enabled')
  t.equal(loadActivatorConfig([...kube, '--mesh-compatibility-mode', 'disabled', '--network-config-dir', dir], {}).config?.meshCompatibilityMode, 'disabled', 'the flag wins over the ConfigMap')
  t.same(loadActivatorConfig(['--source', 'api', '--mesh-compatibility-mode', 'enabled'], {}).problems, ['config: --mesh-compatibility-mode is only used with --source kubernetes, got --source api'])
  t.same(loadActivatorConfig(['--source', 'api', '--network-config-dir', dir], {}).problems, [], 'config-network is read for other keys with any source')
  const unreadable = loadActivatorConfig([...kube, '--network-config-dir', join(dir, 'nope')], {}).problems
  t.equal(unreadable.length, 1, 'one line for an unreadable directory')
  t.match(unreadable, [/^config: --network-config-dir ".*nope" cannot be read: /])
})

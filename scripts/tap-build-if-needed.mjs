// `tap build` only when the built plugin set differs from package.json's "tap.plugin" (after
// `npm ci`, or when the list changes). The runner rebuilds on a mismatch by itself, but only after
// it has computed the test processes' loader flags from the old build, so the first run after
// `npm ci` would start the test files with tap's default TypeScript loader. A rebuild every run
// costs ~6 s; this check costs a fraction of a second.
import { spawnSync } from 'node:child_process'
import { TapConfig } from '@tapjs/config'
import { signature } from '@tapjs/test'

const config = await TapConfig.load()
if (signature !== config.pluginSignature) {
  const built = spawnSync('tap', ['build'], { stdio: 'inherit', shell: process.platform === 'win32' })
  process.exitCode = built.status ?? 1
}

// Compiles src/ to dist/ (what the container image runs) and copies the non-TypeScript assets.
// `node scripts/build.mjs [OUT_DIR]`: OUT_DIR (default dist) lets the cold-start bench stage an image
// form in a temp dir without touching the checkout's dist/.
//
// Then the sidecar mode is bundled: dist/cli/sidecar.js (which main.js imports for `sluice sidecar`)
// is replaced by one file holding its whole static graph, and what it imports lazily (the upgrade
// path, the TLS listener) becomes chunks beside it (dist/cli/sidecar-*.js), still loaded on first use.
// Packages stay in node_modules. Loading ~60 modules cost a sidecar ~10 ms of its start (resolution,
// module records, linking; issue 12, loadtest/results/cold-findings-2026-12-06.md); the other modes
// keep tsc's layout (they read files beside their modules through import.meta.url).
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const out = process.argv[2] ?? 'dist'
// The compiler run by this Node, not whatever `tsc` is on PATH (a test runner's environment may
// resolve the bin shim differently).
const TSC = fileURLToPath(new URL('../node_modules/typescript/lib/tsc.js', import.meta.url))
rmSync(out, { recursive: true, force: true })
execFileSync(process.execPath, [TSC, '-p', 'tsconfig.build.json', '--outDir', out], { stdio: 'inherit' })
cpSync('src/autoscaler/status-page.html', join(out, 'autoscaler/status-page.html'))
cpSync('src/stats/stat.proto', join(out, 'stats/stat.proto'))

await build({
  entryPoints: [join(out, 'cli/sidecar.js')],
  outdir: join(out, 'cli'),
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  entryNames: '[name]',
  chunkNames: 'sidecar-[hash]',
  logLevel: 'warning',
})

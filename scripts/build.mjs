// Compiles src/ to dist/ (what the container image runs) and copies the non-TypeScript assets.
// `node scripts/build.mjs [OUT_DIR]`: OUT_DIR (default dist) lets the cold-start bench stage an image
// form in a temp dir without touching the checkout's dist/.
//
// Then the sidecar mode is bundled: dist/cli/sidecar.js (which main.js imports for `sluice sidecar`)
// is replaced by one file holding its whole static graph, and what it imports lazily (the upgrade
// path, the TLS listener) becomes chunks beside it (dist/cli/sidecar-*.js), still loaded on first use.
// Packages stay in node_modules, except OpenTelemetry's: the SDK, its exporters and what they need
// (@grpc/grpc-js, protobufjs) are bundled into the lazy chunks that src/telemetry/load-telemetry.ts
// imports when OBSERVABILITY_CONFIG exports something, so the sidecar image needs no
// node_modules/@opentelemetry (74 MB) and a default start loads none of it (issue 15). Their ESM
// builds are preferred (`module`); CommonJS ones (grpc-js, protobufjs) get a real `require` from
// the banner for node builtins. Loading ~60 modules cost a sidecar ~10 ms of its start (resolution,
// module records, linking; issue 12, loadtest/results/cold-findings-2026-12-06.md); the other modes
// keep tsc's layout (they read files beside their modules through import.meta.url).
//
// For those modes (activator, autoscaler, up) OpenTelemetry is bundled too, in place: each
// dist/telemetry/ module that imports a bundled package is rebuilt with its packages inlined (shared
// between them as dist/telemetry/otel-*.js chunks) and its imports of our own modules left as they
// are, so every image's node_modules can go without @opentelemetry (Dockerfile `deps`; issue 12).
// This runs after the sidecar's bundle, which has already read tsc's output.
import { execFileSync } from 'node:child_process'
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs'
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

const dependencies = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies)
const isBundled = (name) => name.startsWith('@opentelemetry/')
const shared = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  // Every dependency but OpenTelemetry's stays external (see above).
  external: dependencies.filter((name) => !isBundled(name)),
  mainFields: ['module', 'main'],
  // OUT_DIR may be outside the checkout (the cold-start bench's temp dir): resolve from ours.
  nodePaths: [fileURLToPath(new URL('../node_modules', import.meta.url))],
  banner: { js: "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);" },
  entryNames: '[name]',
  allowOverwrite: true,
  logLevel: 'warning',
}

await build({
  ...shared,
  entryPoints: [join(out, 'cli/sidecar.js')],
  outdir: join(out, 'cli'),
  chunkNames: 'sidecar-[hash]',
})

const telemetryDir = join(out, 'telemetry')
const importsBundled = /\bfrom ['"](@opentelemetry\/|@grpc\/|protobufjs)/
const telemetryEntries = readdirSync(telemetryDir)
  .filter((name) => name.endsWith('.js') && importsBundled.test(readFileSync(join(telemetryDir, name), 'utf8')))
  .map((name) => join(telemetryDir, name))
/** Our own modules (relative imports from dist/) stay imports: one instance of each, shared with the rest of dist/. */
const ownModulesStayExternal = {
  name: 'own-modules-stay-external',
  setup (b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => args.importer.includes(`${'/'}node_modules${'/'}`) ? undefined : { path: args.path, external: true })
  },
}
await build({
  ...shared,
  entryPoints: telemetryEntries,
  outdir: telemetryDir,
  chunkNames: 'otel-[hash]',
  plugins: [ownModulesStayExternal],
})

// Builds Sluice's one native addon, src/native/malloc-trim.c (glibc's malloc_trim for the idle
// reclaimer), with the system C compiler and Node's N-API header:
//   node scripts/build-native.mjs [out-dir]        # default build/native/
// Prints the path of the built file. Optional: without it the reclaimer runs its GC only.
// N-API headers: $NODE_API_INCLUDE, else <node prefix>/include/node, else /usr/include/node.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = resolve(process.argv[2] ?? join(root, 'build', 'native'))
const candidates = [process.env.NODE_API_INCLUDE, join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/local/include/node', '/usr/include/node']
const include = candidates.find((dir) => dir !== undefined && existsSync(join(dir, 'node_api.h')))
if (include === undefined) {
  process.stderr.write(`build-native: no node_api.h in ${candidates.filter(Boolean).join(', ')} (set NODE_API_INCLUDE)\n`)
  process.exit(1)
}
mkdirSync(out, { recursive: true })
const target = join(out, 'malloc-trim.node')
execFileSync(process.env.CC ?? 'cc', ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-I', include, '-o', target, join(root, 'src', 'native', 'malloc-trim.c')], { stdio: 'inherit' })
process.stdout.write(target + '\n')

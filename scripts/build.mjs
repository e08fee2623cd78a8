// Compiles src/ to dist/ (what the container image runs) and copies the non-TypeScript assets.
// `node scripts/build.mjs [OUT_DIR]`: OUT_DIR (default dist) lets the cold-start bench stage an image
// form in a temp dir without touching the checkout's dist/.
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const out = process.argv[2] ?? 'dist'
// Run as `npm run build`: npm puts node_modules/.bin (tsc) on PATH.
rmSync(out, { recursive: true, force: true })
execFileSync('tsc', ['-p', 'tsconfig.build.json', '--outDir', out], { stdio: 'inherit' })
cpSync('src/autoscaler/status-page.html', join(out, 'autoscaler/status-page.html'))
cpSync('src/stats/stat.proto', join(out, 'stats/stat.proto'))

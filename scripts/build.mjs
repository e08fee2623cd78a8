// Compiles src/ to dist/ (what the container image runs) and copies the non-TypeScript assets.
import { execFileSync } from 'node:child_process'
import { cpSync, rmSync } from 'node:fs'

// Run as `npm run build`: npm puts node_modules/.bin (tsc) on PATH.
rmSync('dist', { recursive: true, force: true })
execFileSync('tsc', ['-p', 'tsconfig.build.json'], { stdio: 'inherit' })
cpSync('src/autoscaler/status-page.html', 'dist/autoscaler/status-page.html')
cpSync('src/stats/stat.proto', 'dist/stats/stat.proto')

// The status page: one self-contained HTML file (inline CSS and script, no framework, no external
// requests) that polls GET /status every second and draws per-revision pods, concurrency and RPS
// with SVG sparklines. Kept as a .html file next to this one so it can be edited as HTML; read
// once at module load.

import { readFileSync } from 'node:fs'

export const STATUS_PAGE_HTML: string = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8')

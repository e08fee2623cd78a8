// Preloaded into a measured process (`node --import`): every second, appends process.memoryUsage() and
// v8.getHeapSpaceStatistics() (MB: [size, used] per space) to $PROBE_OUT as one JSON line. Unref'd:
// never keeps the process alive. Used by loadtest/otel-memory.probe.ts.
import { appendFileSync } from 'node:fs'
import v8 from 'node:v8'

const out = process.env.PROBE_OUT
const mb = (n) => Math.round(n / 104857.6) / 10
if (out !== undefined && out !== '') {
  const t0 = Date.now()
  setInterval(() => {
    const m = process.memoryUsage()
    const spaces = {}
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = [mb(s.space_size), mb(s.space_used_size)]
    appendFileSync(out, `${JSON.stringify({ t: Date.now() - t0, rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), ext: mb(m.external), ab: mb(m.arrayBuffers), spaces })}\n`)
  }, 1000).unref()
}

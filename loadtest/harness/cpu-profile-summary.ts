// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self and inclusive time per function, and self
// time per area (GC, our src/, undici, Node's http internals, ...). Usage as a script:
//
//   npx node loadtest/harness/cpu-profile-summary.ts <file.cpuprofile> [top=25]

import { readFileSync } from 'node:fs'
import { field, num } from './load-result.ts'

interface ProfileNode {
  readonly id: number
  readonly key: string
  readonly area: string
  readonly children: readonly number[]
}

export interface FunctionTime {
  readonly fn: string
  readonly selfPct: number
  readonly totalPct: number
}

export interface ProfileSummary {
  readonly samples: number
  readonly topSelf: readonly FunctionTime[]
  readonly topTotal: readonly FunctionTime[]
  readonly areas: ReadonlyArray<{ area: string, selfPct: number }>
}

function areaOf (name: string, url: string): string {
  if (name === '(garbage collector)') return 'GC'
  if (name === '(program)' || name === '(idle)' || name === '(root)') return name
  if (url.includes('/src/')) return 'sluice src/'
  if (url.includes('/undici/')) return 'undici'
  if (url.includes('/pino')) return 'pino'
  if (url.includes('hdr-histogram')) return 'hdr-histogram-js'
  if (url.startsWith('node:internal/http') || url.startsWith('node:_http') || url === 'node:http') return 'node http'
  if (url.startsWith('node:internal/stream') || url.startsWith('node:stream')) return 'node streams'
  if (url.startsWith('node:net') || url.includes('stream_base')) return 'node net'
  if (url.startsWith('node:')) return 'node other'
  if (url === '') return 'native/builtin'
  return 'other'
}

function shortUrl (url: string): string {
  const i = url.indexOf('/node_modules/')
  if (i >= 0) return url.slice(i + 14)
  const j = url.lastIndexOf('/src/')
  if (j >= 0) return url.slice(j + 1)
  return url.replace(/^file:\/\//, '')
}

export function summariseProfile (path: string, top = 25): ProfileSummary {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'))
  const nodesRaw = field(raw, 'nodes')
  const samplesRaw = field(raw, 'samples')
  if (!Array.isArray(nodesRaw) || !Array.isArray(samplesRaw)) throw new Error(`not a .cpuprofile: ${path}`)
  const nodes = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const n of nodesRaw) {
    const cf = field(n, 'callFrame')
    const name = String(field(cf, 'functionName') ?? '') || '(anonymous)'
    const url = String(field(cf, 'url') ?? '')
    const line = num(cf, 'lineNumber') + 1
    const kids = field(n, 'children')
    const children = Array.isArray(kids) ? kids.filter((k): k is number => typeof k === 'number') : []
    const key = url === '' ? name : `${name} ${shortUrl(url)}:${line}`
    const id = num(n, 'id')
    nodes.set(id, { id, key, area: areaOf(name, url), children })
    for (const c of children) parent.set(c, id)
  }
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const areas = new Map<string, number>()
  let count = 0
  for (const s of samplesRaw) {
    if (typeof s !== 'number') continue
    const node = nodes.get(s)
    if (node === undefined) continue
    count++
    self.set(node.key, (self.get(node.key) ?? 0) + 1)
    areas.set(node.area, (areas.get(node.area) ?? 0) + 1)
    // Inclusive: each function on the stack once, even when recursive.
    const seen = new Set<string>()
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const n = nodes.get(id)
      if (n === undefined || seen.has(n.key)) continue
      seen.add(n.key)
      total.set(n.key, (total.get(n.key) ?? 0) + 1)
    }
  }
  const pct = (v: number): number => Math.round((1000 * v) / Math.max(1, count)) / 10
  const rank = (m: Map<string, number>): FunctionTime[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([fn]) => ({ fn, selfPct: pct(self.get(fn) ?? 0), totalPct: pct(total.get(fn) ?? 0) }))
  return {
    samples: count,
    topSelf: rank(self),
    topTotal: rank(new Map([...total.entries()].filter(([k]) => k !== '(root)'))),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, v]) => ({ area, selfPct: pct(v) })),
  }
}

export function formatProfileSummary (s: ProfileSummary): string {
  const lines = [`samples: ${s.samples}`, '', '| area | self % |', '|---|---:|']
  for (const a of s.areas) lines.push(`| ${a.area} | ${a.selfPct} |`)
  lines.push('', '| top self | self % | total % |', '|---|---:|---:|')
  for (const f of s.topSelf) lines.push(`| \`${f.fn}\` | ${f.selfPct} | ${f.totalPct} |`)
  lines.push('', '| top inclusive | self % | total % |', '|---|---:|---:|')
  for (const f of s.topTotal) lines.push(`| \`${f.fn}\` | ${f.selfPct} | ${f.totalPct} |`)
  return lines.join('\n') + '\n'
}

if (import.meta.main) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: cpu-profile-summary.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(formatProfileSummary(summariseProfile(file, Number(process.argv[3] ?? 25))))
}

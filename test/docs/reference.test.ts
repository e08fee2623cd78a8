import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { AUTOSCALER_CONFIG_KEYS } from '../../src/autoscaler/autoscaler-config.ts'
import { ACTIVATOR_OPTIONS } from '../../src/config/activator-config.ts'
import { AUTOSCALER_MODE_OPTIONS } from '../../src/config/autoscaler-config-flags.ts'
import type { OptionSpec } from '../../src/config/options.ts'
import { SAMPLE_APP_OPTIONS } from '../../src/config/sample-app-config.ts'
import { SIDECAR_OPTIONS } from '../../src/config/sidecar-config.ts'
import { UP_OPTIONS } from '../../src/config/up-config.ts'

// The reference lives in docs/ (the README links to it): each mode's flags and env vars, the
// config-autoscaler keys and the error codes are checked against the tables the code uses, so a new
// option or code fails here until it is documented; and every relative link in the README and docs/
// points at a file and heading that exist.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

const MODES: ReadonlyArray<readonly [string, readonly OptionSpec[], string]> = [
  ['sidecar', SIDECAR_OPTIONS, 'docs/sidecar.md'],
  ['activator', ACTIVATOR_OPTIONS, 'docs/activator.md'],
  ['autoscaler', AUTOSCALER_MODE_OPTIONS, 'docs/autoscaler.md'],
  ['up', UP_OPTIONS, 'docs/sluice-up.md'],
  ['sample-app', SAMPLE_APP_OPTIONS, 'docs/sluice-up.md'],
]

/** How a name may appear in a doc: in backticks alone, or first/last in a backticked list (`A`, `B`). */
function isNamed (doc: string, name: string): boolean {
  return doc.includes('`' + name + '`') || doc.includes('`' + name + ',') || doc.includes(', ' + name + '`')
}

for (const [mode, options, path] of MODES) {
  t.test(`every ${mode} flag and env var is in ${path}`, async (t) => {
    const doc = read(path)
    for (const spec of options) {
      // A boolean that defaults to true is documented by how it is turned off.
      if (spec.flag !== '') {
        const flag = spec.kind === 'bool' && spec.default === 'true' ? `--no-${spec.flag}` : `--${spec.flag}`
        t.ok(isNamed(doc, flag), `${flag} is documented`)
      }
      if (spec.env !== '') t.ok(isNamed(doc, spec.env), `${spec.env} is documented`)
    }
  })
}

t.test('every config-autoscaler key is in docs/autoscaler.md', async (t) => {
  const doc = read('docs/autoscaler.md')
  for (const key of AUTOSCALER_CONFIG_KEYS) t.ok(doc.includes('`' + key + '`'), `${key} is documented`)
})

t.test('every SLUICE_ERR_* code of src/ is in docs/operations.md', async (t) => {
  const doc = read('docs/operations.md')
  const codes = new Set<string>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith('.ts')) for (const m of readFileSync(full, 'utf8').matchAll(/'(SLUICE_ERR_[A-Z_]*[A-Z])'/g)) codes.add(m[1] ?? '')
    }
  }
  walk(join(ROOT, 'src'))
  t.ok(codes.size > 20, `found the codes (${codes.size})`)
  for (const code of codes) {
    // Families are one row: `SLUICE_ERR_ADMIN_*` followed by the backticked suffixes.
    const family = /^(SLUICE_ERR_(?:ADMIN|PROFILING)_)(.+)$/.exec(code)
    const documented = family === null
      ? doc.includes('`' + code + '`')
      : doc.includes('`' + code + '`') || (doc.includes('`' + family[1] + '*`') && doc.includes('`' + family[2] + '`'))
    t.ok(documented, `${code} is documented`)
  }
})

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces as -. */
function anchorsOf (markdown: string): Set<string> {
  const anchors = new Set<string>()
  let inFence = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence
    if (inFence) continue
    const m = /^#{1,6} (.+)$/.exec(line)
    if (m !== null) anchors.add((m[1] ?? '').trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'))
  }
  return anchors
}

t.test('relative links in the README and docs/ point at files and headings that exist', async (t) => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  for (const file of files) {
    const text = read(file)
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] ?? ''
      if (/^[a-z]+:/.test(target)) continue
      const [path = '', anchor] = target.split('#')
      const resolved = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path)
      const name = relative(ROOT, resolved)
      if (!existsSync(resolved)) {
        t.fail(`${file}: ${target} (no ${name})`)
        continue
      }
      if (anchor !== undefined && resolved.endsWith('.md')) {
        t.ok(anchorsOf(readFileSync(resolved, 'utf8')).has(anchor), `${file}: ${target}`)
      }
    }
  }
})

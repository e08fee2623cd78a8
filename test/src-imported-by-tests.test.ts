// Every file of src/ is imported by a test: a module that only a whole process reaches has its
// behaviour pinned by nothing smaller than that process (issue 14 item 5). This test reads the
// import statements of every file under test/ and fails when a src/ file is imported by none,
// unless it declares types only (nothing runs) or is in ALLOW below with its reason. An ALLOW
// entry that a test now imports, or whose file is gone, fails too: the list only shrinks.
//
// "Imported" means a value import (`import { X } from`, `import * as`, `import('...')`, a side-
// effect import) by a file under test/ (tests and their helpers); `import type` loads nothing and
// does not count. What a test reaches through another module does not count either: that is the
// in-process reach of a bigger unit, which is what this check exists to tell apart.
import { readdirSync, readFileSync } from 'node:fs'
import { stripTypeScriptTypes } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

// Runs only as its own process (bin/sluice <mode>, a child a mode spawns): the CLI and mode suites
// spawn these, and tap records the children's coverage (test/helpers/sidecar-fixture.ts childEnv).
const ENTRY = 'entry point: runs as its own process (bin/sluice), which test/cli/ and the mode suites spawn'
const CLI_PART = 'part of the CLI wiring, reached only through bin/sluice (test/cli/cli.test.ts and the mode suites spawn it)'
const AUTOSCALER_PROCESS = 'the autoscaler process\'s wiring, reached only through `bin/sluice autoscaler` / `sluice up` (test/cli/up.test.ts)'

// Parts of one concept split over files, tested through the module that is their interface.
const GO_TEMPLATE = 'a part of go-template.ts (lexer, parser, executor, functions), tested through it against Go\'s output (test/go/go-template.test.ts)'

// Reached in-process through a bigger unit the tests build (SidecarServer, ActivatorServer,
// H1Server, the autoscaler's Multiscaler), with no test of its own yet: the next candidates for one.
const VIA_ACTIVATOR = 'no unit test yet: exercised in-process through ActivatorServer (test/activator/*.test.ts)'
const H1_SERVER_PART = 'a part of H1Server (its connection, request and response objects), tested through it over raw sockets (test/server/h1-server.test.ts)'
const VIA_TELEMETRY = 'no unit test yet: loaded on demand by OBSERVABILITY_CONFIG; test/telemetry/*.test.ts drive it through the modes'
const VIA_SERVERS = 'no unit test yet: exercised in-process through the sidecar and activator servers that tests build'

const ALLOW: ReadonlyMap<string, string> = new Map([
  ['src/cli/main.ts', ENTRY],
  ['src/cli/sidecar.ts', ENTRY],
  ['src/cli/activator.ts', ENTRY],
  ['src/cli/autoscaler.ts', ENTRY],
  ['src/cli/up.ts', ENTRY],
  ['src/cli/sample-app.ts', ENTRY],
  ['src/cli/activator-child.ts', 'spawns and supervises the activator\'s child process; reached only through `bin/sluice activator` (test/activator/backpressure.test.ts)'],
  ['src/local/reaper-main.ts', 'entry point of the reaper process that ProcessReaper spawns (test/local/local-actuator.test.ts)'],
  ['src/cli/exit-codes.ts', CLI_PART],
  ['src/cli/report-config-problems.ts', CLI_PART],
  ['src/cli/up-admin-token.ts', CLI_PART],
  ['src/autoscaler/autoscaler-service.ts', AUTOSCALER_PROCESS],
  ['src/autoscaler/activator-queue-poller.ts', AUTOSCALER_PROCESS],

  ['src/go/go-template-exec.ts', GO_TEMPLATE],
  ['src/go/go-template-funcs.ts', GO_TEMPLATE],
  ['src/go/go-template-lex.ts', GO_TEMPLATE],
  ['src/go/go-template-number.ts', GO_TEMPLATE],
  ['src/go/go-template-parse.ts', GO_TEMPLATE],
  ['src/go/go-url.ts', 'Go\'s net/url for the request log\'s .Request.URL; tested through go-http-request.ts (test/go/go-http-request.test.ts)'],


  ['src/activator/activator-tls.ts', VIA_ACTIVATOR],

  ['src/local/local-pod.ts', 'no unit test yet: driven through LocalActuator, which spawns real pods (test/local/local-actuator.test.ts)'],


  ['src/profiling/profiling-switch.ts', VIA_SERVERS],

  ['src/proxy/connected-socket-agent.ts', 'the agent UpgradeTunnel.connect hands http-proxy-3, tested through it (test/proxy/upgrade-tunnel.test.ts, connect cases)'],
  ['src/proxy/h1-upstream-connection.ts', 'a part of H1Upstream (one keep-alive connection), tested through it against raw servers (test/proxy/h1-upstream.test.ts)'],

  ['src/server/h1-server-connection.ts', H1_SERVER_PART],
  ['src/server/h1-server-request.ts', H1_SERVER_PART],
  ['src/server/h1-server-response.ts', H1_SERVER_PART],



  ['src/telemetry/grpc-exporters.ts', VIA_TELEMETRY],
  ['src/telemetry/prometheus-reader.ts', VIA_TELEMETRY],
  ['src/telemetry/proto-exporters.ts', VIA_TELEMETRY],
  ['src/telemetry/stdout-span-exporter.ts', VIA_TELEMETRY],
])

function walk (dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else out.push(p)
  }
  return out
}

// `import ... from '...'` / `export ... from '...'` (over several lines), `import('...')` with a
// literal, and `import '...'`. Group 1: `type` of a whole type-only statement; 2: the clause; 3-5: the specifier.
const IMPORT_RE = /\b(?:import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g

/** The files `file` value-imports (resolved paths); relative specifiers only (src/ is reached that way). */
export function valueImports (file: string, text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[3] ?? m[4] ?? m[5] ?? ''
    if (!spec.startsWith('.')) continue
    if (m[3] !== undefined) {
      if (m[1] !== undefined) continue // import type { ... } / export type { ... }
      const clause = (m[2] ?? '').trim()
      const braces = /^\{([^}]*)\}$/.exec(clause)
      if (braces !== null) {
        const names = (braces[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
        if (names.length > 0 && names.every((n) => n.startsWith('type '))) continue // import { type A, type B }
      }
    }
    out.push(resolve(dirname(file), spec))
  }
  return out
}

/** True when the module has no runtime code: types stripped and comments removed, nothing is left. */
export function declaresTypesOnly (source: string): boolean {
  const code = stripTypeScriptTypes(source, { mode: 'strip' })
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '').replace(/\bexport\s*\{\s*\}/g, '').trim() === ''
}

t.test('the import reader sees what loads a module, and not what does not', async (t) => {
  const from = join(ROOT, 'test', 'x', 'a.test.ts')
  const rel = (files: string[]): string[] => files.map((f) => relative(ROOT, f))
  t.same(rel(valueImports(from, `
    import { A } from '../../src/a.ts'
    import {
      B,
      type C,
    } from '../../src/b.ts'
    import * as D from "../../src/d.ts"
    import E, { F } from '../../src/e.ts'
    export { G } from '../../src/g.ts'
    import '../../src/side-effect.ts'
    const h = await import('../../src/h.ts')
    import t from 'tap'
    import { readFileSync } from 'node:fs'
  `)), ['src/a.ts', 'src/b.ts', 'src/d.ts', 'src/e.ts', 'src/g.ts', 'src/side-effect.ts', 'src/h.ts'])
  t.same(rel(valueImports(from, `
    import type { A } from '../../src/a.ts'
    import { type B, type C } from '../../src/b.ts'
    export type { D } from '../../src/d.ts'
  `)), [], 'type-only imports load nothing')
  t.ok(declaresTypesOnly('// doc\nimport type { X } from "./x.ts"\nexport interface A { x: X }\nexport type B = number\n'))
  t.notOk(declaresTypesOnly('export interface A { x: number }\nexport const B = 1\n'))
  t.notOk(declaresTypesOnly('export class A {}\n'))
})

t.test('every src/ file is imported by a test, declares types only, or is allowed with a reason', async (t) => {
  const srcFiles = walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  const testFiles = walk(join(ROOT, 'test')).filter((f) => /\.(?:[cm]?ts|[cm]?js)$/.test(f))
  const imported = new Set<string>()
  for (const f of testFiles) for (const dep of valueImports(f, readFileSync(f, 'utf8'))) imported.add(dep)

  const missing: string[] = []
  let typesOnly = 0
  for (const f of srcFiles) {
    if (imported.has(f)) continue
    if (declaresTypesOnly(readFileSync(f, 'utf8'))) { typesOnly++; continue }
    missing.push(relative(ROOT, f))
  }
  const unexplained = missing.filter((f) => !ALLOW.has(f))
  t.same(unexplained, [], 'src/ files no test imports: give each a test that imports it (test/ mirrors src/), or, if only a process can reach it, an ALLOW entry here saying why')

  const srcSet = new Set(srcFiles.map((f) => relative(ROOT, f)))
  const stale = [...ALLOW.keys()].filter((f) => !srcSet.has(f) || !missing.includes(f))
  t.same(stale, [], 'ALLOW entries for files that are gone or that a test now imports: remove them')
  for (const [file, reason] of ALLOW) t.ok(reason.length > 20, `${file} has a reason`)

  t.comment(`src/: ${srcFiles.length} files; ${srcFiles.length - missing.length - typesOnly} imported by a test, ${typesOnly} types only, ${missing.length} allowed without a direct test`)
})

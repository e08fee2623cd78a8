// Kubeconfig resolution against client-go's own: golden/kubeconfig-golden.json is what the client-go
// Knative vendors made of every file in golden/corpus/ (golden/gen/main.go says how to regenerate).
// A file client-go resolves must resolve to the same fields; a file it refuses must be a ConfigError
// here too.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { KubeRestConfig } from '../../src/kube/kube-config.ts'
import { resolveKubeconfigFile } from '../../src/kube/kubeconfig-file.ts'
import { ConfigError } from '../../src/shared/errors.ts'

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden')
const CORPUS = join(GOLDEN_DIR, 'corpus')

interface GoldenEntry {
  file: string
  host?: string
  bearerToken?: string
  bearerTokenFile?: string
  username?: string
  password?: string
  caData?: string
  certData?: string
  keyData?: string
  insecure?: boolean
  serverName?: string
  exec?: { command: string, args: string[], env: Array<{ name: string, value: string }>, apiVersion: string, interactiveMode: string, provideClusterInfo: boolean }
  err?: string
}

const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, 'kubeconfig-golden.json'), 'utf8')) as GoldenEntry[]

/** Ours in the golden's shape: '' and false left out, corpus paths as <corpus>. */
function asGolden (file: string, c: KubeRestConfig): GoldenEntry {
  const out: GoldenEntry = { file }
  const anon = (s: string): string => s.replaceAll(CORPUS, '<corpus>')
  if (c.host !== '') out.host = c.host
  if (c.bearerToken !== '') out.bearerToken = c.bearerToken
  if (c.bearerTokenFile !== '') out.bearerTokenFile = anon(c.bearerTokenFile)
  if (c.username !== '') out.username = c.username
  if (c.password !== '') out.password = c.password
  if (c.caData !== '') out.caData = c.caData
  if (c.certData !== '') out.certData = c.certData
  if (c.keyData !== '') out.keyData = c.keyData
  if (c.insecure) out.insecure = true
  if (c.serverName !== '') out.serverName = c.serverName
  if (c.exec !== null) out.exec = { ...c.exec, command: anon(c.exec.command), args: [...c.exec.args], env: c.exec.env.map((e) => ({ ...e })) }
  return out
}

t.test('the corpus is not trivially small', async (t) => {
  t.ok(golden.length >= 30, `${golden.length} kubeconfig files`)
  t.ok(golden.filter((e) => e.err !== undefined).length >= 10, 'with failures among them')
})

for (const entry of golden) {
  t.test(`${entry.file}: ${entry.err === undefined ? 'resolves as client-go' : 'refused as by client-go'}`, async (t) => {
    const path = join(CORPUS, entry.file)
    const got = await resolveKubeconfigFile(path).then((c) => asGolden(entry.file, c), (err: unknown) => err)
    if (entry.err === undefined) {
      t.same(got, entry)
      return
    }
    t.ok(got instanceof ConfigError, `client-go: ${entry.err}`)
    if (got instanceof ConfigError) {
      t.ok(got.problems.every((p) => p.startsWith('kubeconfig: ')), got.problems.join('\n'))
      // The name client-go quotes (a cluster, a context) or the file it could not read is in ours too.
      for (const m of entry.err.matchAll(/"([^"]+)"|<corpus>\/(\S+?)(?=:| |$)/g)) {
        const name = m[1] ?? m[2] ?? ''
        t.match(got.message.replaceAll(CORPUS, '<corpus>'), name, `names ${name}`)
      }
    }
  })
}

import t from 'tap'
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../../src/shared/errors.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { parseRevisionsFile } from '../../../src/activator/sources/revisions-file.ts'
import { StaticFileSource } from '../../../src/activator/sources/static-file.ts'
import { captureLogger } from './capture-logger.ts'
import { MemorySink } from './memory-sink.ts'

type Test = Pick<typeof t, 'teardown'>

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-revisions-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Replaces the file atomically, as editors and ConfigMap updates do. */
async function replaceFile (path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, text)
  await rename(tmp, path)
}

function startSource (t: Test, path: string, opts: { debounceMs?: number, pollIntervalMs?: number, logger?: ReturnType<typeof silentLogger> } = {}): StaticFileSource {
  const source = new StaticFileSource({
    path,
    logger: opts.logger ?? silentLogger(),
    debounceMs: opts.debounceMs ?? 20,
    pollIntervalMs: opts.pollIntervalMs ?? 0,
  })
  t.teardown(() => source.close())
  return source
}

const YAML_TWO = `
revisions:
  - name: hello-00001
    namespace: default
    containerConcurrency: 2
    hosts: [hello.local]
    endpoints: ["127.0.0.1:8013", "[::1]:8014"]
    timeoutSeconds: 300
  - name: world-00001
    endpoints: []
    lbPolicy: round-robin
`

t.test('parseRevisionsFile', async (t) => {
  t.test('YAML and JSON give the same specs', async (t) => {
    const yaml = parseRevisionsFile(YAML_TWO, 'r.yaml')
    const json = parseRevisionsFile(JSON.stringify({
      revisions: [
        { name: 'hello-00001', namespace: 'default', containerConcurrency: 2, hosts: ['hello.local'], endpoints: ['127.0.0.1:8013', '[::1]:8014'], timeoutSeconds: 300 },
        { name: 'world-00001', endpoints: [], lbPolicy: 'round-robin' },
      ],
    }), 'r.json')
    t.same(yaml, json)
    t.same(yaml, {
      specs: [
        { namespace: 'default', name: 'hello-00001', containerConcurrency: 2, endpoints: ['127.0.0.1:8013', '[::1]:8014'], hosts: ['hello.local'], timeoutSeconds: 300, lbPolicy: null },
        { namespace: 'default', name: 'world-00001', containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: 'round-robin' },
      ],
    })
  })

  t.test('an empty list is valid', async (t) => {
    t.same(parseRevisionsFile('revisions: []\n', 'f'), { specs: [] })
  })

  const cases: Array<{ name: string, text: string, want: Array<string | RegExp> }> = [
    { name: 'YAML syntax error', text: 'revisions: [\n', want: [/^f: invalid YAML\/JSON: /] },
    { name: 'JSON syntax error', text: '{"revisions": [}', want: [/^f: invalid YAML\/JSON: /, /^f: invalid YAML\/JSON: /] },
    { name: 'duplicate key', text: 'revisions: []\nrevisions: []\n', want: [/^f: invalid YAML\/JSON: Map keys must be unique/] },
    { name: 'empty file', text: '', want: ['f: expected a mapping with a top-level "revisions:" list, got null'] },
    { name: 'a bare list', text: '- name: a\n', want: ['f: expected a mapping with a top-level "revisions:" list, got a list'] },
    { name: 'missing revisions', text: 'revision: []\n', want: ['f: revision: unknown top-level field (expected "revisions")', 'f: revisions: required (a list; [] for none)'] },
    { name: 'revisions not a list', text: 'revisions: {name: a}\n', want: ['f: revisions: expected a list, got an object'] },
    {
      name: 'every problem of every revision, prefixed by the file',
      text: 'revisions:\n  - name: A\n    containerConcurrency: -1\n  - name: b\n    endpoints: [ok:1, foo]\n',
      want: [
        /^f: revisions\[0\]\.name: must be a DNS-1123 label/,
        'f: revisions[0].containerConcurrency: must be an integer >= 0 (at most 2147483647), got -1',
        'f: revisions[1].endpoints[1]: "foo" is not host:port',
      ],
    },
    {
      name: 'a revision defined twice',
      text: 'revisions:\n  - {name: a}\n  - {name: a, namespace: default}\n',
      want: ['f: revisions[1]: revision default/a is already defined by revisions[0]'],
    },
    {
      name: 'one host routed to two revisions',
      text: 'revisions:\n  - {name: a, hosts: [x.local]}\n  - {name: b, hosts: [y.local, X.local]}\n',
      want: ['f: revisions[1].hosts[1]: "x.local" is already routed to default/a'],
    },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const result = parseRevisionsFile(c.text, 'f')
      const problems = 'problems' in result ? result.problems : []
      t.equal(problems.length, c.want.length, problems.join(' | '))
      for (let i = 0; i < c.want.length; i++) t.match(problems[i], c.want[i])
      for (const p of problems) t.notOk(p.includes('\n'), 'one line per problem')
    })
  }
})

t.test('start applies a YAML file', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, YAML_TWO)
  const sink = new MemorySink()
  await startSource(t, path).start(sink)
  t.same(sink.keys(), ['default/hello-00001', 'default/world-00001'])
  t.same(sink.get('default/hello-00001')?.endpoints, ['127.0.0.1:8013', '[::1]:8014'])
  t.equal(sink.calls.length, 2)
})

t.test('start applies a JSON file', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.json')
  await writeFile(path, JSON.stringify({ revisions: [{ name: 'a', namespace: 'ns', containerConcurrency: 1, endpoints: ['10.0.0.1:8012'] }] }))
  const sink = new MemorySink()
  await startSource(t, path).start(sink)
  t.same(sink.list(), [{ namespace: 'ns', name: 'a', containerConcurrency: 1, endpoints: ['10.0.0.1:8012'], hosts: [], timeoutSeconds: null, lbPolicy: null }])
})

t.test('start rejects an invalid file with a ConfigError listing every problem', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions:\n  - name: Bad\n  - name: ok\n    endpoints: [nope]\n')
  const sink = new MemorySink()
  const err = await startSource(t, path).start(sink).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ConfigError)
  if (err instanceof ConfigError) {
    t.equal(err.code, 'SLUICE_ERR_CONFIG_INVALID')
    t.equal(err.problems.length, 2)
    t.match(err.problems[0], `${path}: revisions[0].name: must be a DNS-1123 label`)
    t.equal(err.problems[1], `${path}: revisions[1].endpoints[0]: "nope" is not host:port`)
  }
  t.equal(sink.calls.length, 0, 'nothing applied')
})

t.test('start rejects a missing file with a ConfigError', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'absent.yaml')
  const err = await startSource(t, path).start(new MemorySink()).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ConfigError)
  if (err instanceof ConfigError) t.match(err.problems[0], `${path}: cannot read revisions file: ENOENT`)
})

t.test('a change is applied as a diff', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions:\n  - {name: keep, endpoints: ["10.0.0.1:8012"]}\n  - {name: change, endpoints: []}\n  - {name: drop}\n')
  const sink = new MemorySink()
  const source = startSource(t, path)
  await source.start(sink)
  sink.calls.length = 0

  await writeFile(path, 'revisions:\n  - {name: keep, endpoints: ["10.0.0.1:8012"]}\n  - {name: change, endpoints: ["10.0.0.2:8012"]}\n  - {name: added}\n')
  await source.reload()
  t.same(sink.keys(), ['default/added', 'default/change', 'default/keep'])
  t.same(sink.get('default/change')?.endpoints, ['10.0.0.2:8012'])
  const ops = sink.calls.map((c) => c.op === 'upsert' ? `upsert ${c.spec.name}` : `remove ${c.key}`).sort()
  t.same(ops, ['remove default/drop', 'upsert added', 'upsert change'], 'unchanged revisions are not re-sent')

  sink.calls.length = 0
  await source.reload()
  t.equal(sink.calls.length, 0, 'same text: nothing to do')
})

t.test('a reload does not touch revisions other sources put in the sink', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions:\n  - {name: a}\n')
  const sink = new MemorySink()
  const source = startSource(t, path)
  await source.start(sink)
  sink.upsert({ namespace: 'default', name: 'from-api', containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null })
  await writeFile(path, 'revisions: []\n')
  await source.reload()
  t.same(sink.keys(), ['default/from-api'])
})

t.test('an invalid reload is logged in one line and the previous state kept', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, YAML_TWO)
  const sink = new MemorySink()
  const { logger, lines } = captureLogger()
  const source = startSource(t, path, { logger })
  await source.start(sink)
  const before = sink.list()
  sink.calls.length = 0

  await writeFile(path, 'revisions:\n  - {name: A, endpoints: [x]}\n')
  await source.reload()
  t.equal(sink.calls.length, 0)
  t.same(sink.list(), before)
  const errors = lines.filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'one log line')
  t.equal(errors[0].msg, 'revisions file invalid; keeping the previous revisions')
  t.same(errors[0].problems, [
    `${path}: revisions[0].name: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "A"`,
    `${path}: revisions[0].endpoints[0]: "x" is not host:port`,
  ])

  await source.reload()
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'the same invalid text is not logged again')

  await writeFile(path, 'revisions:\n  - {name: fixed}\n')
  await source.reload()
  t.same(sink.keys(), ['default/fixed'], 'a fixed file is applied')
})

t.test('a deleted file keeps the previous state until it comes back', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, YAML_TWO)
  const sink = new MemorySink()
  const { logger, lines } = captureLogger()
  const source = startSource(t, path, { logger })
  await source.start(sink)
  sink.calls.length = 0

  await unlink(path)
  await source.reload()
  await source.reload()
  t.equal(sink.calls.length, 0)
  t.same(sink.keys(), ['default/hello-00001', 'default/world-00001'])
  const warnings = lines.filter((l) => l.msg === 'revisions file unreadable; keeping the previous revisions')
  t.equal(warnings.length, 1, 'logged once per outage')

  await writeFile(path, YAML_TWO)
  await source.reload()
  t.equal(sink.calls.length, 0, 'the same content again: no change')
  await writeFile(path, 'revisions:\n  - {name: only}\n')
  await source.reload()
  t.same(sink.keys(), ['default/only'])
})

t.test('picks up an atomic replace through the directory watch', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions: []\n')
  const sink = new MemorySink()
  await startSource(t, path, { debounceMs: 20 }).start(sink)
  await replaceFile(path, 'revisions:\n  - {name: watched, endpoints: ["127.0.0.1:9"]}\n')
  await sink.until(() => sink.get('default/watched') !== undefined)
  t.same(sink.get('default/watched')?.endpoints, ['127.0.0.1:9'])
  await writeFile(path, 'revisions:\n  - {name: watched, endpoints: ["127.0.0.1:10"]}\n')
  await sink.until(() => sink.get('default/watched')?.endpoints[0] === '127.0.0.1:10')
  t.pass('in-place write picked up too')
})

t.test('the poll picks up changes', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions: []\n')
  const sink = new MemorySink()
  // A debounce longer than the test: only the poll can deliver the change.
  await startSource(t, path, { debounceMs: 60_000, pollIntervalMs: 25 }).start(sink)
  await writeFile(path, 'revisions:\n  - {name: polled}\n')
  await sink.until(() => sink.get('default/polled') !== undefined)
  t.pass('applied')
})

t.test('close() stops watching and polling', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions: []\n')
  const sink = new MemorySink()
  const source = startSource(t, path, { debounceMs: 10, pollIntervalMs: 10 })
  await source.start(sink)
  await source.close()
  await replaceFile(path, 'revisions:\n  - {name: late}\n')
  await new Promise((resolve) => setTimeout(resolve, 100))
  await source.reload()
  t.equal(sink.calls.length, 0)
})

t.test('start() twice is a programming error', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'revisions.yaml')
  await writeFile(path, 'revisions: []\n')
  const source = startSource(t, path)
  await source.start(new MemorySink())
  await t.rejects(source.start(new MemorySink()), /start\(\) called twice/)
})

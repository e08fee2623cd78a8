// writeStdout: the request log's raw lines on fd 1, one write per line, and a stdout that went away
// (EPIPE) costs nothing: the process goes on, as Knative ignores its writer's error.
import { spawn } from 'node:child_process'
import t from 'tap'
import { writeStdout } from '../../src/shared/stdout-line.ts'

const MODULE = new URL('../../src/shared/stdout-line.ts', import.meta.url).href

function run (script: string, closeStdout: boolean): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { writeStdout } from ${JSON.stringify(MODULE)}\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  if (closeStdout) child.stdout.destroy()
  else child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  return new Promise((resolve) => { child.on('close', (code) => { resolve({ code, out, err }) }) })
}

t.test('lines reach stdout as written, in order', async (t) => {
  const r = await run("writeStdout('{\"a\":1}\\n'); writeStdout('second\\n')", false)
  t.equal(r.code, 0)
  t.equal(r.out, '{"a":1}\nsecond\n')
})

t.test('a stdout that is gone: the writes fail quietly and the process goes on', async (t) => {
  // Writes keep coming after the reader left; without the guard the EPIPE 'error' event would be
  // unhandled and end the process with an error.
  const r = await run("for (let i = 0; i < 200; i++) writeStdout('line ' + i + '\\n'); setTimeout(() => { process.stderr.write('still here'); process.exit(0) }, 100)", true)
  t.equal(r.err, 'still here')
  t.equal(r.code, 0)
})

t.test('one write per line, the line as given (so lines never interleave with the logger\'s)', async (t) => {
  const writes: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((chunk: string) => { writes.push(chunk); return true }) as typeof process.stdout.write
  try {
    writeStdout('one\n')
    writeStdout('{"two":2}\n')
  } finally {
    process.stdout.write = write
  }
  t.same(writes, ['one\n', '{"two":2}\n'])
})

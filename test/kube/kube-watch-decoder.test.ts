// The watch body is cut into events wherever the chunks fall: every split of a stream gives the same
// events; a malformed or oversized line ends the stream with a KubeApiError.
import t from 'tap'
import { WatchDecoder } from '../../src/kube/kube-watch-decoder.ts'
import { KubeApiError } from '../../src/shared/errors.ts'

class Events {
  readonly got: string[] = []
  onWatchEvent (type: string, object: unknown): void { this.got.push(`${type} ${JSON.stringify(object)}`) }
}

const STREAM = [
  '{"type":"ADDED","object":{"metadata":{"name":"caf\u00e9-\u2603","resourceVersion":"5"}}}',
  '{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"6"}}}',
  '{"type":"DELETED","object":{"metadata":{"name":"b"}}}',
].join('\n') + '\n'

t.test('every two-way and three-way split of the stream gives the same events (multi-byte UTF-8 cut too)', async (t) => {
  const bytes = Buffer.from(STREAM)
  const whole = new Events()
  t.equal(new WatchDecoder().push(bytes, whole), null)
  t.equal(whole.got.length, 3)
  t.match(whole.got[0], 'caf\u00e9-\u2603')
  for (let i = 0; i <= bytes.length; i++) {
    for (const j of [i, Math.min(bytes.length, i + 1), Math.min(bytes.length, i + 7)]) {
      const ev = new Events()
      const d = new WatchDecoder()
      for (const chunk of [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]) {
        if (d.push(chunk, ev) !== null) t.fail(`split ${i}/${j} errored`)
      }
      if (d.end(ev) !== null) t.fail(`split ${i}/${j} errored at end`)
      if (ev.got.join('|') !== whole.got.join('|')) t.fail(`split at ${i}/${j} differs`)
    }
  }
  t.pass('all splits agree')
})

t.test('blank lines and CRLF line ends are skipped; a last line without its newline still counts at end()', async (t) => {
  const ev = new Events()
  const d = new WatchDecoder()
  t.equal(d.push(Buffer.from('\n\r\n{"type":"ADDED","object":{}}\r\n{"type":"MODIFIED","object":{}}'), ev), null)
  t.same(ev.got, ['ADDED {}'])
  t.equal(d.end(ev), null)
  t.same(ev.got, ['ADDED {}', 'MODIFIED {}'])
  t.equal(d.lines, 2)
})

t.test('a malformed line, a line without type or object, or a truncated last line is a KubeApiError', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['not json', 'push', /^malformed watch event: "not json"$/],
    ['{"type":"ADDED"}', 'push', /no type or object/],
    ['{"object":{}}', 'push', /no type or object/],
    ['[1,2]', 'push', /no type or object/],
    ['{"type":"ADDED","obj', 'end', /^malformed watch event/],
  ]
  for (const [line, at, want] of cases) {
    const ev = new Events()
    const d = new WatchDecoder()
    const pushed = d.push(Buffer.from(at === 'push' ? line + '\n' : line), ev)
    const err = at === 'push' ? pushed : d.end(ev)
    t.ok(err instanceof KubeApiError, line)
    t.match(err?.message, want)
    t.equal(err?.code, 'SLUICE_ERR_KUBE_API')
    t.same(ev.got, [], 'nothing handed over')
  }
})

t.test('a line longer than the limit is refused before it is buffered further', async (t) => {
  const d = new WatchDecoder(16)
  const ev = new Events()
  t.equal(d.push(Buffer.from('{"type":"ADDED",'), ev), null, '16 bytes pending: at the limit')
  t.match(d.push(Buffer.from('"'), ev)?.message, 'watch event longer than 16 bytes')
})

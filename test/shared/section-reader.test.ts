// SectionReader: finds the end of a field section across reads, copying only what straddles reads,
// bounded by maxBytes over all pieces.
import t from 'tap'
import { SECTION_MORE, SECTION_TOO_LARGE, SectionReader } from '../../src/shared/section-reader.ts'

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n'

t.test('a section in one read is a range of that buffer (no copy); what follows is left', async (t) => {
  const r = new SectionReader(1024)
  const buf = Buffer.from(`xx${HEAD}ok`)
  const end = r.read(buf, 2, buf.length)
  t.equal(end, 2 + HEAD.length)
  t.equal(r.section, buf, 'the read buffer itself')
  t.equal(r.section.subarray(r.start, r.stop).toString(), HEAD)
})

t.test('split at every byte, and in three pieces, the section is found whole', async (t) => {
  const bytes = Buffer.from(HEAD + 'body')
  const wrong: string[] = []
  for (let i = 1; i < HEAD.length; i++) {
    for (const j of [i, Math.min(HEAD.length - 1, i + 3)]) {
      const r = new SectionReader(1024)
      const pieces = j > i ? [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)] : [bytes.subarray(0, i), bytes.subarray(i)]
      let end = SECTION_MORE
      let k = 0
      for (; k < pieces.length && end === SECTION_MORE; k++) end = r.read(pieces[k] as Buffer, 0, (pieces[k] as Buffer).length)
      const last = pieces[k - 1] as Buffer
      const got = r.section.subarray(r.start, r.stop).toString()
      if (got !== HEAD || last.subarray(end).toString() !== 'body') wrong.push(`${i}/${j}: ${JSON.stringify(got)}`)
    }
  }
  t.same(wrong, [])
})

t.test('bare LF line ends count too (the parsers refuse them later, by their own rules)', async (t) => {
  const r = new SectionReader(1024)
  const buf = Buffer.from('A: 1\n\nrest')
  t.equal(r.read(buf, 0, buf.length), 6)
})

t.test('a CR at the end of one read and its LF in the next still end the empty line', async (t) => {
  const r = new SectionReader(1024)
  t.equal(r.read(Buffer.from('A: 1\r\n\r'), 0, 7), SECTION_MORE)
  t.equal(r.isAtStart, false)
  t.equal(r.read(Buffer.from('\nnext'), 0, 5), 1)
  t.equal(r.section.subarray(r.start, r.stop).toString(), 'A: 1\r\n\r\n')
})

t.test('over maxBytes: in one read, across reads, and when the end arrives', async (t) => {
  const one = new SectionReader(10)
  t.equal(one.read(Buffer.from('A: 12345678\r\n\r\n'), 0, 15), SECTION_TOO_LARGE)
  const across = new SectionReader(10)
  t.equal(across.read(Buffer.from('A: 123'), 0, 6), SECTION_MORE)
  t.equal(across.read(Buffer.from('45678'), 0, 5), SECTION_TOO_LARGE)
  const atEnd = new SectionReader(10)
  t.equal(atEnd.read(Buffer.from('A: 1234'), 0, 7), SECTION_MORE)
  t.equal(atEnd.read(Buffer.from('\r\n\r\n'), 0, 4), SECTION_TOO_LARGE, '7 + 4 > 10')
  const exact = new SectionReader(8)
  t.equal(exact.read(Buffer.from('A: 1\r\n\r\n'), 0, 8), 8, 'exactly maxBytes fits')
})

t.test('reset: the next section starts clean', async (t) => {
  const r = new SectionReader(1024)
  t.equal(r.isAtStart, true)
  r.read(Buffer.from('A: 1'), 0, 4)
  t.equal(r.isAtStart, false)
  r.reset()
  t.equal(r.isAtStart, true)
  t.equal(r.read(Buffer.from('\r\n'), 0, 2), 2, 'an empty line right after reset ends an empty section')
})

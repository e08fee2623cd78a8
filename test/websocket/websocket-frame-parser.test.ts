import t from 'tap'
import fc from 'fast-check'
import { closePayloadOf, encodeClientFrame, isValidCloseCode, MaskSource } from '../../src/websocket/websocket-frame-encoder.ts'
import { WebSocketFrameParser, type FrameSink } from '../../src/websocket/websocket-frame-parser.ts'
import { decodeClientFrames, serverFrame } from '../helpers/websocket-fixtures.ts'

/** Records the parser's calls as strings. */
class Sink implements FrameSink {
  readonly calls: string[] = []
  onFrameMessage (data: Buffer, isBinary: boolean): void { this.calls.push(`${isBinary ? 'binary' : 'text'} ${data.length} ${data.subarray(0, 8).toString('hex')}`) }
  onFramePing (payload: Buffer): void { this.calls.push(`ping ${payload.toString()}`) }
  onFramePong (payload: Buffer): void { this.calls.push(`pong ${payload.toString()}`) }
  onFrameClose (code: number, reason: string): void { this.calls.push(`close ${code} ${reason}`) }
}

t.test('the same stream gives the same calls whatever the read boundaries', async (t) => {
  const stream = Buffer.concat([
    serverFrame(1, 'hello'),
    serverFrame(2, Buffer.alloc(0)),
    serverFrame(2, Buffer.alloc(126, 1)),
    serverFrame(2, Buffer.alloc(65_536, 2)),
    serverFrame(2, 'ab', { fin: false }),
    serverFrame(10, 'pong between'),
    serverFrame(0, 'cd', { fin: false }),
    serverFrame(9, 'ping between'),
    serverFrame(0, 'ef'),
    serverFrame(8, closePayloadOf(1000, 'bye')),
  ])
  const expected = ['text 5 68656c6c6f', 'binary 0 ', 'binary 126 0101010101010101', 'binary 65536 0202020202020202', 'pong pong between', 'ping ping between', 'binary 6 616263646566', 'close 1000 bye']
  for (const step of [stream.length, 1, 2, 3, 7, 125, 4096]) {
    const sink = new Sink()
    const parser = new WebSocketFrameParser(sink, 1024 * 1024)
    for (let i = 0; i < stream.length; i += step) parser.push(stream.subarray(i, i + step))
    t.same(sink.calls, expected, `reads of ${step} bytes`)
    t.equal(parser.error, null)
  }
})

t.test('stop() ends parsing: no call after it, push() says false', async (t) => {
  const sink = new Sink()
  const parser = new WebSocketFrameParser(sink, 1024)
  t.equal(parser.isMidFrame, false)
  parser.push(serverFrame(2, 'abcdef').subarray(0, 4))
  t.equal(parser.isMidFrame, true, 'mid-frame')
  parser.stop()
  t.equal(parser.push(serverFrame(1, 'x')), false)
  t.same(sink.calls, [])
})

t.test('the message limit counts all fragments and is checked before the payload arrives', async (t) => {
  const sink = new Sink()
  const parser = new WebSocketFrameParser(sink, 10)
  t.ok(parser.push(serverFrame(2, Buffer.alloc(10))), 'exactly the limit')
  t.ok(parser.push(serverFrame(2, Buffer.alloc(6), { fin: false })))
  t.equal(parser.push(serverFrame(0, Buffer.alloc(5)).subarray(0, 2)), false, 'refused on the header')
  t.equal(parser.error?.code, 'SLUICE_ERR_WEBSOCKET_MESSAGE_TOO_LARGE')
  t.equal(parser.error?.closeCode, 1009)
  t.same(sink.calls, ['binary 10 0000000000000000'])
})

t.test('client frames: FIN, masked, lengths in 7, 16 and 64 bits, a string written as UTF-8', async (t) => {
  const masks = new MaskSource()
  for (const n of [0, 125, 126, 65_535, 65_536, 100_000]) {
    const payload = Buffer.alloc(n)
    for (let i = 0; i < n; i++) payload[i] = i & 0xff
    const [frame] = decodeClientFrames(encodeClientFrame(2, payload, masks))
    t.same([frame.fin, frame.opcode, frame.masked, frame.payload.equals(payload)], [true, 2, true, true], `${n} bytes`)
  }
  const [text] = decodeClientFrames(encodeClientFrame(1, 'héllo ✓', masks))
  t.same([text.opcode, text.payload.toString('utf8')], [1, 'héllo ✓'])
  const many = new Set<string>()
  for (let i = 0; i < 3000; i++) many.add(decodeClientFrames(encodeClientFrame(9, '', masks))[0].mask.toString('hex'))
  t.ok(many.size > 2990, `masks differ across a pool refill (${many.size} distinct of 3000)`)
})

t.test('close codes one may send', async (t) => {
  t.same([1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999].filter((c) => !isValidCloseCode(c)), [])
  t.same([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].filter((c) => isValidCloseCode(c)), [])
  t.equal(closePayloadOf(1005, 'ignored').length, 0, '1005 means no payload')
})

t.test('property: any valid stream, fragmented and split anywhere, gives its messages and control frames in order', async (t) => {
  const message = fc.record({
    isBinary: fc.boolean(),
    data: fc.uint8Array({ maxLength: 300 }),
    fragments: fc.array(fc.nat({ max: 300 }), { maxLength: 3 }),
    pingBetween: fc.option(fc.uint8Array({ maxLength: 125 }), { nil: null }),
  })
  fc.assert(fc.property(fc.array(message, { maxLength: 6 }), fc.array(fc.nat({ max: 400 }), { maxLength: 8 }), (messages, cuts) => {
    const frames: Buffer[] = []
    const expected: string[] = []
    for (const m of messages) {
      // Text must be UTF-8: hex of the bytes is.
      const payload = m.isBinary ? Buffer.from(m.data) : Buffer.from(Buffer.from(m.data).toString('hex'))
      const points = [...new Set(m.fragments.map((f) => f % (payload.length + 1)))].sort((a, b) => a - b)
      let from = 0
      const pieces: Buffer[] = []
      for (const p of points) { pieces.push(payload.subarray(from, p)); from = p }
      pieces.push(payload.subarray(from))
      pieces.forEach((piece, i) => {
        frames.push(serverFrame(i === 0 ? (m.isBinary ? 2 : 1) : 0, piece, { fin: i === pieces.length - 1 }))
        if (i === 0 && pieces.length > 1 && m.pingBetween !== null) {
          frames.push(serverFrame(9, Buffer.from(m.pingBetween)))
          expected.push(`ping ${Buffer.from(m.pingBetween).toString()}`)
        }
      })
      expected.push(`${m.isBinary ? 'binary' : 'text'} ${payload.length} ${payload.subarray(0, 8).toString('hex')}`)
    }
    const stream = Buffer.concat(frames)
    const sink = new Sink()
    const parser = new WebSocketFrameParser(sink, 1024 * 1024)
    let from = 0
    for (const c of [...cuts.map((c) => c % (stream.length + 1)), stream.length].sort((a, b) => a - b)) {
      parser.push(stream.subarray(from, c))
      from = c
    }
    return parser.error === null && JSON.stringify(sink.calls) === JSON.stringify(expected)
  }), { numRuns: 300 })
  t.pass('300 streams')
})

t.test('property: arbitrary bytes never throw; they give frames or one coded error', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const parser = new WebSocketFrameParser(new Sink(), 1024)
    parser.push(Buffer.from(bytes))
    return parser.error === null || /^SLUICE_ERR_WEBSOCKET_(PROTOCOL|MESSAGE_TOO_LARGE)$/.test(parser.error.code)
  }), { numRuns: 2000 })
  t.pass('2000 inputs')
})

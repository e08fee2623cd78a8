import t from 'tap'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { StatDecodeError } from '../../src/shared/errors.ts'
import type { Stat, WireStatMessage } from '../../src/stats/stat.ts'
import { decodeStat, decodeWireStatMessages, encodeStat, encodeWireStatMessages } from '../../src/stats/stat-proto.ts'

// The independent implementation: protobufjs reading the checked-in schema.
const root = protobuf.loadSync(fileURLToPath(new URL('../../src/stats/stat.proto', import.meta.url)))
const PbStat = root.lookupType('metrics.Stat')
const PbWireStatMessages = root.lookupType('metrics.WireStatMessages')

/** The assertions the helpers use; any tap Test provides them. */
type Asserts = Pick<typeof t, 'ok' | 'equal'>

const DOUBLE_FIELDS = [
  'averageConcurrentRequests',
  'averageProxiedConcurrentRequests',
  'requestCount',
  'proxiedRequestCount',
  'processUptime',
] as const

function stat (over: Partial<Stat>): Stat {
  return {
    podName: '',
    averageConcurrentRequests: 0,
    averageProxiedConcurrentRequests: 0,
    requestCount: 0,
    proxiedRequestCount: 0,
    processUptime: 0,
    timestamp: 0,
    ...over,
  }
}

const CASES: ReadonlyArray<[string, Stat]> = [
  ['all zero', stat({})],
  ['typical', stat({ podName: 'hello-00001-deployment-5d8f7b-x2x9z', averageConcurrentRequests: 1.5, averageProxiedConcurrentRequests: 0.25, requestCount: 12, proxiedRequestCount: 3, processUptime: 42.001, timestamp: 1_700_000_000 })],
  ['negative values', stat({ podName: 'p', averageConcurrentRequests: -1.25, averageProxiedConcurrentRequests: -0.5, requestCount: -3, proxiedRequestCount: -1e-9, processUptime: -7, timestamp: -1 })],
  ['large values', stat({ podName: 'p', averageConcurrentRequests: Number.MAX_VALUE, averageProxiedConcurrentRequests: 1e300, requestCount: 2 ** 53, proxiedRequestCount: Number.MIN_VALUE, processUptime: 31_536_000_000.5, timestamp: Number.MAX_SAFE_INTEGER })],
  ['most negative safe timestamp', stat({ timestamp: -Number.MAX_SAFE_INTEGER })],
  ['timestamp needing 5 bytes', stat({ timestamp: 2 ** 31 })],
  ['timestamp 2^32 + 1', stat({ timestamp: 2 ** 32 + 1 })],
  ['special doubles', stat({ averageConcurrentRequests: Number.POSITIVE_INFINITY, averageProxiedConcurrentRequests: Number.NEGATIVE_INFINITY, requestCount: Number.NaN, proxiedRequestCount: -0 })],
  ['unicode pod name', stat({ podName: 'pöd-名前-🚀-ü', requestCount: 1 })],
  ['long pod name (2-byte length)', stat({ podName: 'x'.repeat(300), processUptime: 1 })],
  ['empty pod name, other fields set', stat({ podName: '', requestCount: 5, timestamp: 5 })],
]

function sameNumber (t: Asserts, actual: unknown, expected: number, name: string): void {
  t.ok(Object.is(actual, expected), `${name}: ${String(actual)} is ${String(expected)}`)
}

// protobufjs object for a Stat (int64 as a decimal string so nothing is lost).
function toPbObject (s: Stat): Record<string, unknown> {
  return {
    podName: s.podName,
    averageConcurrentRequests: s.averageConcurrentRequests,
    averageProxiedConcurrentRequests: s.averageProxiedConcurrentRequests,
    requestCount: s.requestCount,
    proxiedRequestCount: s.proxiedRequestCount,
    processUptime: s.processUptime,
    timestamp: String(s.timestamp),
  }
}

function checkPbStat (t: Asserts, obj: Record<string, unknown>, expected: Stat): void {
  t.equal(obj.podName, expected.podName, 'podName')
  for (const f of DOUBLE_FIELDS) {
    // proto3 cannot tell -0 from absent on decode in protobufjs' defaults; compare by value then.
    if (Object.is(expected[f], -0)) t.equal(obj[f], 0, f)
    else sameNumber(t, obj[f], expected[f], f)
  }
  t.equal(BigInt(String(obj.timestamp)), BigInt(expected.timestamp), 'timestamp')
}

function checkStat (t: Asserts, actual: Stat, expected: Stat): void {
  t.equal(actual.podName, expected.podName, 'podName')
  for (const f of DOUBLE_FIELDS) sameNumber(t, actual[f], expected[f], f)
  sameNumber(t, actual.timestamp, expected.timestamp, 'timestamp')
}

t.test('encodeStat -> protobufjs decode: every field', async (t) => {
  for (const [name, s] of CASES) {
    t.test(name, async (t) => {
      const obj = PbStat.toObject(PbStat.decode(encodeStat(s)), { longs: String, defaults: true })
      checkPbStat(t, obj, s)
    })
  }
})

t.test('protobufjs encode -> decodeStat: every field', async (t) => {
  for (const [name, s] of CASES) {
    t.test(name, async (t) => {
      const bytes = PbStat.encode(PbStat.fromObject(toPbObject(s))).finish()
      checkStat(t, decodeStat(bytes), s)
    })
  }
})

t.test('encodeStat -> decodeStat round trip keeps -0 and NaN', async (t) => {
  for (const [name, s] of CASES) {
    t.test(name, async (t) => { checkStat(t, decodeStat(encodeStat(s)), s) })
  }
})

t.test('matches protobufjs byte for byte when every field is set', async (t) => {
  const s = CASES[1]?.[1] ?? stat({})
  t.same([...encodeStat(s)], [...PbStat.encode(PbStat.fromObject(toPbObject(s))).finish()])
})

t.test('known wire bytes', async (t) => {
  const bytes = encodeStat(stat({ podName: 'a', requestCount: 1, timestamp: 1 }))
  t.equal(bytes.toString('hex'), '0a0161' + '21' + '000000000000f03f' + '3801')
  t.equal(encodeStat(stat({ timestamp: -1 })).toString('hex'), '38ffffffffffffffffff01')
})

t.test('proto3: zero values are omitted, -0 is not (Go compares bits)', async (t) => {
  t.equal(encodeStat(stat({})).length, 0)
  t.equal(encodeStat(stat({ proxiedRequestCount: -0 })).toString('hex'), '29' + '0000000000000080')
  t.same(decodeStat(Buffer.alloc(0)), stat({}))
})

t.test('decodeStat skips unknown fields of every wire type and known fields with the wrong wire type', async (t) => {
  const w = protobuf.Writer.create()
  w.uint32((15 << 3) | 0).uint64(123456789)
  w.uint32((1 << 3) | 2).string('pod')
  w.uint32((16 << 3) | 1).double(3.5)
  w.uint32((2 << 3) | 0).uint32(99) // field 2 is a double: a varint there is unknown
  w.uint32((17 << 3) | 2).bytes(new Uint8Array([1, 2, 3]))
  w.uint32((4 << 3) | 1).double(7)
  w.uint32((18 << 3) | 5).fixed32(42)
  w.uint32((1000 << 3) | 0).int64(-5)
  const s = decodeStat(w.finish())
  t.same(s, stat({ podName: 'pod', requestCount: 7 }))
})

t.test('decodeStat: the last occurrence of a scalar wins', async (t) => {
  const bytes = Buffer.concat([encodeStat(stat({ podName: 'a', requestCount: 1 })), encodeStat(stat({ podName: 'b' }))])
  t.same(decodeStat(bytes), stat({ podName: 'b', requestCount: 1 }))
})

const MALFORMED: ReadonlyArray<[string, Buffer]> = [
  ['truncated key varint', Buffer.from([0x80])],
  ['truncated string', Buffer.from([0x0a, 0x05, 0x61])],
  ['truncated double', Buffer.from([0x11, 0, 0, 0])],
  ['truncated int64', Buffer.from([0x38, 0xff])],
  ['varint longer than 10 bytes', Buffer.from([0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['unknown varint longer than 10 bytes', Buffer.from([0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['length beyond the message', Buffer.from([0x0a, 0x7f, 0x61])],
  ['huge length', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])],
  ['field number 0', Buffer.from([0x00, 0x01])],
  ['start group wire type', Buffer.from([0x7b])],
  ['end group wire type', Buffer.from([0x7c])],
  ['wire type 6', Buffer.from([0x7e])],
  ['invalid UTF-8 pod name', Buffer.from([0x0a, 0x02, 0xc3, 0x28])],
  ['truncated unknown fixed32', Buffer.from([0x7d, 0x01])],
  ['truncated unknown fixed64', Buffer.from([0x79, 0x01])],
]

t.test('decodeStat throws StatDecodeError on malformed input', async (t) => {
  for (const [name, bytes] of MALFORMED) {
    t.throws(() => decodeStat(bytes), StatDecodeError, name)
    try {
      decodeStat(bytes)
    } catch (err) {
      t.equal(err instanceof StatDecodeError ? err.code : '', 'SLUICE_ERR_STATS_DECODE', `${name}: code`)
    }
  }
})

t.test('every strict prefix of a full Stat that cuts a field throws StatDecodeError', async (t) => {
  const full = encodeStat(CASES[1]?.[1] ?? stat({}))
  // Field boundaries: a prefix ending exactly on one decodes fine.
  const boundaries = new Set<number>()
  for (let end = 0; end <= full.length; end++) {
    try {
      decodeStat(full.subarray(0, end))
      boundaries.add(end)
    } catch (err) {
      if (!(err instanceof StatDecodeError)) t.fail(`prefix ${end}: ${String(err)}`)
    }
  }
  // pod name (2 + 35 bytes), 5 doubles (9 bytes each), timestamp: boundaries are the field ends.
  t.same([...boundaries], [0, 37, 46, 55, 64, 73, 82, full.length])
})

const WIRE: WireStatMessage[] = [
  { namespace: 'default', name: 'hello-00001', stat: stat({ podName: 'activator-abc', averageConcurrentRequests: 3.25, requestCount: 4 }) },
  { namespace: '', name: '', stat: null },
  { namespace: 'ns-ü', name: 'rev-名前', stat: stat({}) },
  { namespace: 'n', name: 'r', stat: CASES[3]?.[1] ?? null },
]

t.test('encodeWireStatMessages -> protobufjs decode', async (t) => {
  const obj = PbWireStatMessages.toObject(PbWireStatMessages.decode(encodeWireStatMessages(WIRE)), { longs: String, defaults: true })
  const messages = obj.messages
  t.ok(Array.isArray(messages))
  if (!Array.isArray(messages)) return
  t.equal(messages.length, WIRE.length)
  WIRE.forEach((expected, i) => {
    const m: unknown = messages[i]
    if (typeof m !== 'object' || m === null) { t.fail('message is an object'); return }
    const rec = new Map(Object.entries(m))
    t.equal(rec.get('namespace'), expected.namespace)
    t.equal(rec.get('name'), expected.name)
    const s: unknown = rec.get('stat')
    if (expected.stat === null) t.equal(s ?? null, null, 'absent stat')
    else if (typeof s === 'object' && s !== null) checkPbStat(t, Object.fromEntries(Object.entries(s)), expected.stat)
    else t.fail('stat present')
  })
})

t.test('protobufjs encode -> decodeWireStatMessages', async (t) => {
  const bytes = PbWireStatMessages.encode(PbWireStatMessages.fromObject({
    messages: WIRE.map((m) => m.stat === null
      ? { namespace: m.namespace, name: m.name }
      : { namespace: m.namespace, name: m.name, stat: toPbObject(m.stat) }),
  })).finish()
  const decoded = decodeWireStatMessages(bytes)
  t.equal(decoded.length, WIRE.length)
  WIRE.forEach((expected, i) => {
    const actual = decoded[i]
    if (actual === undefined) { t.fail('missing'); return }
    t.equal(actual.namespace, expected.namespace)
    t.equal(actual.name, expected.name)
    if (expected.stat === null) t.equal(actual.stat, null)
    else if (actual.stat === null) t.fail('stat missing')
    else checkStat(t, actual.stat, expected.stat)
  })
})

t.test('WireStatMessages round trip, empty batch, present-but-empty stat', async (t) => {
  t.same(decodeWireStatMessages(encodeWireStatMessages(WIRE)), WIRE)
  t.equal(encodeWireStatMessages([]).length, 0)
  t.same(decodeWireStatMessages(Buffer.alloc(0)), [])
  // An empty Stat that is present is still written (Go writes non-nil message pointers).
  t.equal(encodeWireStatMessages([{ namespace: '', name: '', stat: stat({}) }]).toString('hex'), '0a021a00')
})

t.test('decodeWireStatMessages throws on truncation anywhere inside a message', async (t) => {
  const full = encodeWireStatMessages(WIRE)
  let threw = 0
  for (let end = 1; end < full.length; end++) {
    try {
      decodeWireStatMessages(full.subarray(0, end))
    } catch (err) {
      t.ok(err instanceof StatDecodeError, `prefix ${end}`)
      threw++
    }
  }
  t.ok(threw > full.length - 10, 'nearly every prefix is malformed')
  t.throws(() => decodeWireStatMessages(Buffer.from([0x0a, 0x03, 0x1a, 0x05, 0x00])), StatDecodeError, 'stat longer than its message')
})

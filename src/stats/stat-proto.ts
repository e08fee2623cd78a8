// Protobuf wire format of Knative's `metrics.Stat` / `WireStatMessage` / `WireStatMessages` (stat.proto in
// this folder), encoded and decoded by hand.
//
// Why not a protobuf runtime: the schema is 7 scalar fields plus a 3-field wrapper, the encoder runs once per
// reporting period, and the sidecar should carry no runtime dependency for it. A generic runtime would add a
// package, generated code or reflection for what is ~200 lines. The tests check this code against an
// independent implementation (protobufjs loading stat.proto) in both directions.
//
// Wire rules followed (proto3, as Go's protobuf does them):
// - Field key = (number << 3) | wire type. Strings and embedded messages: type 2 (varint length + bytes).
//   Doubles: type 1, 8 bytes little-endian. int64: type 0, varint of the two's complement, so a negative
//   number takes 10 bytes.
// - Zero values are not written: '' strings, doubles whose bits are all zero (-0 and NaN are written, as Go
//   compares the bits), timestamp 0. A `stat` that is present is written even when empty; null is omitted.
// - Decoding: unknown fields are skipped; a known field number with an unexpected wire type is treated as
//   unknown (Go does the same); for repeated scalars the last one wins and a repeated `stat` merges.
//   Truncated input, bad lengths, over-long varints, field number 0, group wire types (3, 4) and invalid
//   UTF-8 throw StatDecodeError.
// - int64 values beyond +/-2^53 decode to the nearest double (JS numbers), as protobufjs's toNumber does.

import { StatDecodeError } from '../shared/errors.ts'
import { emptyStat, type Stat, type WireStatMessage } from './stat.ts'

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_LEN = 2
const WIRE_FIXED32 = 5

// Precomputed keys: (field << 3) | wire type.
const KEY_STAT_POD_NAME = (1 << 3) | WIRE_LEN // 0x0a
const KEY_STAT_AVG_CONCURRENCY = (2 << 3) | WIRE_FIXED64 // 0x11
const KEY_STAT_AVG_PROXIED_CONCURRENCY = (3 << 3) | WIRE_FIXED64 // 0x19
const KEY_STAT_REQUEST_COUNT = (4 << 3) | WIRE_FIXED64 // 0x21
const KEY_STAT_PROXIED_REQUEST_COUNT = (5 << 3) | WIRE_FIXED64 // 0x29
const KEY_STAT_PROCESS_UPTIME = (6 << 3) | WIRE_FIXED64 // 0x31
const KEY_STAT_TIMESTAMP = (7 << 3) | WIRE_VARINT // 0x38
const KEY_WIRE_NAMESPACE = (1 << 3) | WIRE_LEN // 0x0a
const KEY_WIRE_NAME = (2 << 3) | WIRE_LEN // 0x12
const KEY_WIRE_STAT = (3 << 3) | WIRE_LEN // 0x1a
const KEY_MESSAGES = (1 << 3) | WIRE_LEN // 0x0a

const DOUBLE_BYTES = 8
const MAX_VARINT_BYTES = 10
const UINT64_MASK = (1n << 64n) - 1n

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

// ---------------------------------------------------------------------------------------------- encoding

/** proto3 presence of a double: written unless its bits are all zero (+0). */
function hasDouble (value: number): boolean {
  return value !== 0 || Object.is(value, -0)
}

/** The unsigned 64-bit two's complement of an int64 field (non-integers truncate, non-finite -> 0). */
function int64Bits (value: number): bigint {
  if (!Number.isFinite(value)) return 0n
  return BigInt(Math.trunc(value)) & UINT64_MASK
}

function varintSize (value: number): number {
  // Only used for lengths (< 2^31), so 5 bytes at most.
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

function bigVarintSize (value: bigint): number {
  let size = 1
  while (value >= 0x80n) {
    value >>= 7n
    size++
  }
  return size
}

function writeVarint (buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80
    value = Math.floor(value / 128)
  }
  buf[pos++] = value
  return pos
}

function writeBigVarint (buf: Buffer, pos: number, value: bigint): number {
  while (value >= 0x80n) {
    buf[pos++] = Number(value & 0x7fn) | 0x80
    value >>= 7n
  }
  buf[pos++] = Number(value)
  return pos
}

function stringFieldSize (byteLength: number): number {
  return byteLength === 0 ? 0 : 1 + varintSize(byteLength) + byteLength
}

function doubleFieldSize (value: number): number {
  return hasDouble(value) ? 1 + DOUBLE_BYTES : 0
}

function statSize (stat: Stat, podNameBytes: number, timestampBits: bigint): number {
  return stringFieldSize(podNameBytes) +
    doubleFieldSize(stat.averageConcurrentRequests) +
    doubleFieldSize(stat.averageProxiedConcurrentRequests) +
    doubleFieldSize(stat.requestCount) +
    doubleFieldSize(stat.proxiedRequestCount) +
    doubleFieldSize(stat.processUptime) +
    (timestampBits === 0n ? 0 : 1 + bigVarintSize(timestampBits))
}

function writeString (buf: Buffer, pos: number, key: number, value: string, byteLength: number): number {
  if (byteLength === 0) return pos
  buf[pos++] = key
  pos = writeVarint(buf, pos, byteLength)
  return pos + buf.write(value, pos, byteLength, 'utf8')
}

function writeDouble (buf: Buffer, pos: number, key: number, value: number): number {
  if (!hasDouble(value)) return pos
  buf[pos++] = key
  return buf.writeDoubleLE(value, pos)
}

function writeStat (buf: Buffer, pos: number, stat: Stat, podNameBytes: number, timestampBits: bigint): number {
  pos = writeString(buf, pos, KEY_STAT_POD_NAME, stat.podName, podNameBytes)
  pos = writeDouble(buf, pos, KEY_STAT_AVG_CONCURRENCY, stat.averageConcurrentRequests)
  pos = writeDouble(buf, pos, KEY_STAT_AVG_PROXIED_CONCURRENCY, stat.averageProxiedConcurrentRequests)
  pos = writeDouble(buf, pos, KEY_STAT_REQUEST_COUNT, stat.requestCount)
  pos = writeDouble(buf, pos, KEY_STAT_PROXIED_REQUEST_COUNT, stat.proxiedRequestCount)
  pos = writeDouble(buf, pos, KEY_STAT_PROCESS_UPTIME, stat.processUptime)
  if (timestampBits !== 0n) {
    buf[pos++] = KEY_STAT_TIMESTAMP
    pos = writeBigVarint(buf, pos, timestampBits)
  }
  return pos
}

/** Serializes one `metrics.Stat` (the body queue-proxy serves to the autoscaler). */
export function encodeStat (stat: Stat): Buffer {
  const podNameBytes = Buffer.byteLength(stat.podName, 'utf8')
  const timestampBits = int64Bits(stat.timestamp)
  const buf = Buffer.allocUnsafe(statSize(stat, podNameBytes, timestampBits))
  writeStat(buf, 0, stat, podNameBytes, timestampBits)
  return buf
}

/** Serializes a `metrics.WireStatMessages` batch (one websocket frame from the activator). */
export function encodeWireStatMessages (messages: readonly WireStatMessage[]): Buffer {
  // Two passes: sizes first (kept in a small array, once per batch), then one exact allocation.
  const sizes: number[] = []
  let total = 0
  for (const msg of messages) {
    const nsBytes = Buffer.byteLength(msg.namespace, 'utf8')
    const nameBytes = Buffer.byteLength(msg.name, 'utf8')
    let size = stringFieldSize(nsBytes) + stringFieldSize(nameBytes)
    let statBytes = 0
    if (msg.stat !== null) {
      statBytes = statSize(msg.stat, Buffer.byteLength(msg.stat.podName, 'utf8'), int64Bits(msg.stat.timestamp))
      size += 1 + varintSize(statBytes) + statBytes
    }
    sizes.push(nsBytes, nameBytes, statBytes, size)
    total += 1 + varintSize(size) + size
  }
  const buf = Buffer.allocUnsafe(total)
  let pos = 0
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i]
    const nsBytes = sizes[i * 4]
    const nameBytes = sizes[i * 4 + 1]
    const statBytes = sizes[i * 4 + 2]
    const size = sizes[i * 4 + 3]
    buf[pos++] = KEY_MESSAGES
    pos = writeVarint(buf, pos, size)
    pos = writeString(buf, pos, KEY_WIRE_NAMESPACE, msg.namespace, nsBytes)
    pos = writeString(buf, pos, KEY_WIRE_NAME, msg.name, nameBytes)
    if (msg.stat !== null) {
      buf[pos++] = KEY_WIRE_STAT
      pos = writeVarint(buf, pos, statBytes)
      pos = writeStat(buf, pos, msg.stat, Buffer.byteLength(msg.stat.podName, 'utf8'), int64Bits(msg.stat.timestamp))
    }
  }
  return buf
}

// ---------------------------------------------------------------------------------------------- decoding

/** A cursor over one message's bytes [pos, end). */
class Reader {
  readonly buf: Uint8Array
  pos: number
  end: number

  constructor (buf: Uint8Array, pos: number, end: number) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  /** A varint that must fit in 32 bits unsigned (keys, lengths). */
  uint32 (): number {
    let value = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const byte = this.#byte()
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) {
        if (value > 0xffffffff) throw new StatDecodeError('varint does not fit 32 bits')
        return value
      }
      shift += 7
    }
    throw new StatDecodeError('varint does not fit 32 bits')
  }

  /** A varint read as int64 (two's complement), returned as the nearest JS number. */
  int64 (): number {
    let value = 0n
    let shift = 0n
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.#byte()
      value |= BigInt(byte & 0x7f) << shift
      if (byte < 0x80) return Number(BigInt.asIntN(64, value))
      shift += 7n
    }
    throw new StatDecodeError('varint longer than 10 bytes')
  }

  double (): number {
    if (this.end - this.pos < DOUBLE_BYTES) throw new StatDecodeError('truncated double')
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, DOUBLE_BYTES)
    this.pos += DOUBLE_BYTES
    return view.getFloat64(0, true)
  }

  /** Reads a length prefix and returns the end offset of the delimited bytes. */
  delimitedEnd (): number {
    const length = this.uint32()
    if (length > this.end - this.pos) throw new StatDecodeError('length exceeds message')
    return this.pos + length
  }

  string (): string {
    const end = this.delimitedEnd()
    let value: string
    try {
      value = utf8Decoder.decode(this.buf.subarray(this.pos, end))
    } catch (err) {
      throw new StatDecodeError('string is not valid UTF-8', { cause: err })
    }
    this.pos = end
    return value
  }

  skip (wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        for (let i = 0; ; i++) {
          if (i === MAX_VARINT_BYTES) throw new StatDecodeError('varint longer than 10 bytes')
          if (this.#byte() < 0x80) return
        }
      case WIRE_FIXED64:
        this.#advance(8)
        return
      case WIRE_LEN:
        this.pos = this.delimitedEnd()
        return
      case WIRE_FIXED32:
        this.#advance(4)
        return
      default:
        throw new StatDecodeError(`unsupported wire type ${wireType}`)
    }
  }

  #advance (n: number): void {
    if (this.end - this.pos < n) throw new StatDecodeError('truncated field')
    this.pos += n
  }

  #byte (): number {
    if (this.pos >= this.end) throw new StatDecodeError('truncated varint')
    return this.buf[this.pos++]
  }
}

/** Reads a field key. Decoding is off the request path, so a small object per field is fine. */
function readKey (r: Reader): { field: number, wireType: number } {
  const key = r.uint32()
  const field = Math.floor(key / 8)
  if (field === 0) throw new StatDecodeError('field number 0')
  return { field, wireType: key & 7 }
}

function decodeStatInto (r: Reader, stat: Stat): void {
  while (r.pos < r.end) {
    const { field, wireType } = readKey(r)
    if (field === 1 && wireType === WIRE_LEN) stat.podName = r.string()
    else if (field === 7 && wireType === WIRE_VARINT) stat.timestamp = r.int64()
    else if (field >= 2 && field <= 6 && wireType === WIRE_FIXED64) {
      const value = r.double()
      if (field === 2) stat.averageConcurrentRequests = value
      else if (field === 3) stat.averageProxiedConcurrentRequests = value
      else if (field === 4) stat.requestCount = value
      else if (field === 5) stat.proxiedRequestCount = value
      else stat.processUptime = value
    } else r.skip(wireType)
  }
}

function zeroStat (): Stat {
  return emptyStat('')
}

function decodeWireStatMessage (r: Reader): WireStatMessage {
  const msg: WireStatMessage = { namespace: '', name: '', stat: null }
  while (r.pos < r.end) {
    const { field, wireType } = readKey(r)
    if (field === 1 && wireType === WIRE_LEN) msg.namespace = r.string()
    else if (field === 2 && wireType === WIRE_LEN) msg.name = r.string()
    else if (field === 3 && wireType === WIRE_LEN) {
      const end = r.delimitedEnd()
      const outerEnd = r.end
      r.end = end
      msg.stat ??= zeroStat()
      decodeStatInto(r, msg.stat)
      r.end = outerEnd
    } else r.skip(wireType)
  }
  return msg
}

/** Parses one `metrics.Stat`. Throws StatDecodeError on malformed input; absent fields are 0 / ''. */
export function decodeStat (buf: Uint8Array): Stat {
  const stat = zeroStat()
  decodeStatInto(new Reader(buf, 0, buf.length), stat)
  return stat
}

/** Parses a `metrics.WireStatMessages` batch. Throws StatDecodeError on malformed input. */
export function decodeWireStatMessages (buf: Uint8Array): WireStatMessage[] {
  const r = new Reader(buf, 0, buf.length)
  const messages: WireStatMessage[] = []
  while (r.pos < r.end) {
    const { field, wireType } = readKey(r)
    if (field === 1 && wireType === WIRE_LEN) {
      const end = r.delimitedEnd()
      const outerEnd = r.end
      r.end = end
      messages.push(decodeWireStatMessage(r))
      r.end = outerEnd
    } else r.skip(wireType)
  }
  return messages
}

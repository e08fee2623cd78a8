// Wire format of grpc.health.v1.Health/Check, hand-encoded: the two messages are one field each, so a
// protobuf library would be all weight and no help.
//
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2,
//                                                               // SERVICE_UNKNOWN 3
// A gRPC message on the wire is a 5-byte prefix (compressed flag, big-endian uint32 length) + the message.

export const GRPC_HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check'
export const GRPC_SERVING_STATUS_SERVING = 1

const SERVING_STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN']

/** A framed HealthCheckRequest (length prefix included), ready to write as the request body. */
export function encodeHealthCheckRequest (service: string): Buffer {
  const name = Buffer.from(service, 'utf8')
  // proto3 omits a default (empty) string, so an empty service is an empty message.
  const lengthBytes = name.length === 0 ? [] : varint(name.length)
  const messageLength = name.length === 0 ? 0 : 1 + lengthBytes.length + name.length
  const out = Buffer.allocUnsafe(5 + messageLength)
  out[0] = 0
  out.writeUInt32BE(messageLength, 1)
  if (messageLength > 0) {
    let at = 5
    out[at++] = 0x0a // field 1, wire type 2 (length-delimited)
    for (const b of lengthBytes) out[at++] = b
    name.copy(out, at)
  }
  return out
}

/**
 * Decodes a framed HealthCheckResponse (exactly one message). Returns the serving status number, or a
 * string describing why the bytes are not one.
 */
export function decodeHealthCheckResponse (frame: Buffer): number | string {
  if (frame.length < 5) return `short gRPC response (${frame.length} bytes)`
  if (frame[0] !== 0) return 'compressed gRPC response not supported'
  const length = frame.readUInt32BE(1)
  if (frame.length !== 5 + length) return `gRPC response frame length ${length} does not match ${frame.length - 5} bytes received`
  let status = 0 // absent field = proto3 default, UNKNOWN
  let at = 5
  while (at < frame.length) {
    const tag = readVarint(frame, at)
    if (tag === null) return 'malformed HealthCheckResponse'
    at = tag.next
    const field = Math.floor(tag.value / 8)
    const wireType = tag.value % 8
    if (wireType === 0) {
      const v = readVarint(frame, at)
      if (v === null) return 'malformed HealthCheckResponse'
      at = v.next
      if (field === 1) status = v.value
    } else if (wireType === 2) {
      const len = readVarint(frame, at)
      if (len === null) return 'malformed HealthCheckResponse'
      at = len.next + len.value
    } else if (wireType === 1) {
      at += 8
    } else if (wireType === 5) {
      at += 4
    } else {
      return 'malformed HealthCheckResponse'
    }
    if (at > frame.length) return 'malformed HealthCheckResponse'
  }
  return status
}

export function servingStatusName (status: number): string {
  return SERVING_STATUS_NAMES[status] ?? String(status)
}

function varint (n: number): number[] {
  const bytes: number[] = []
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  bytes.push(n)
  return bytes
}

/** Reads a varint of up to 7 bytes (enough for any length or enum value we accept). */
function readVarint (buf: Buffer, at: number): { value: number, next: number } | null {
  let value = 0
  let scale = 1
  for (let i = 0; i < 7; i++) {
    const b = buf[at + i]
    if (b === undefined) return null
    value += (b & 0x7f) * scale
    if (b < 0x80) return { value, next: at + i + 1 }
    scale *= 128
  }
  return null
}

import t from 'tap'
import { decodeHealthCheckResponse, encodeHealthCheckRequest, servingStatusName } from '../../src/sidecar/grpc-health-codec.ts'

function frame (message: number[]): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out.writeUInt32BE(message.length, 1)
  Buffer.from(message).copy(out, 5)
  return out
}

t.test('encodes HealthCheckRequest with the gRPC length prefix', async (t) => {
  t.same([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0], 'empty service is an empty message')
  t.same([...encodeHealthCheckRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62])
  const long = 'x'.repeat(200) // length needs a two-byte varint: 200 = 0xc8 0x01
  const encoded = encodeHealthCheckRequest(long)
  t.equal(encoded.readUInt32BE(1), 203)
  t.same([...encoded.subarray(5, 8)], [0x0a, 0xc8, 0x01])
  t.equal(encoded.subarray(8).toString(), long)
})

t.test('decodes HealthCheckResponse', async (t) => {
  const cases: Array<[string, Buffer, number | RegExp]> = [
    ['SERVING', frame([0x08, 1]), 1],
    ['NOT_SERVING', frame([0x08, 2]), 2],
    ['empty message is UNKNOWN', frame([]), 0],
    ['unknown fields skipped', frame([0x12, 2, 0x61, 0x62, 0x08, 1, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4]), 1],
    ['short', Buffer.from([0, 0]), /short gRPC response/],
    ['compressed', Buffer.from([1, 0, 0, 0, 0]), /compressed/],
    ['length mismatch', Buffer.from([0, 0, 0, 0, 3, 0x08, 1]), /does not match/],
    ['truncated varint', frame([0x08, 0x80]), /malformed/],
    ['field past the end', frame([0x12, 5, 0x61]), /malformed/],
    ['bad wire type', frame([0x0b]), /malformed/],
  ]
  for (const [name, input, want] of cases) {
    const got = decodeHealthCheckResponse(input)
    if (typeof want === 'number') t.equal(got, want, name)
    else t.match(got, want, name)
  }
})

t.test('names serving statuses', async (t) => {
  t.equal(servingStatusName(1), 'SERVING')
  t.equal(servingStatusName(3), 'SERVICE_UNKNOWN')
  t.equal(servingStatusName(9), '9')
})

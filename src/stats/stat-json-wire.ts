// The `json` stats-push protocol: one websocket text frame per batch, the JSON twin of Knative's
// `WireStatMessages` protobuf, so an autoscaler in any language can take the activator's stats
// without a protobuf toolchain. Documented in docs/stats-protocol.md; JSON Schema in
// docs/stats-protocol.schema.json. Version 1:
//
//   {"version":1,"messages":[{"namespace":"default","name":"hello",
//     "stat":{"podName":"activator","averageConcurrentRequests":1,"averageProxiedConcurrentRequests":0,
//             "requestCount":1,"proxiedRequestCount":0,"processUptime":0,"timestamp":0}}]}
//
// Compatibility rules (the reason for `version`): a change that old readers would misread bumps the
// version and readers reject versions they do not know; adding an optional field does not, and
// readers ignore unknown fields. Stat numbers may be omitted (0, as proto3 omits zeros); a message
// whose `stat` is null or absent is kept with `stat: null` (receivers skip it, as Knative does).

import { StatDecodeError } from '../shared/errors.ts'
import { emptyStat, type Stat, type WireStatMessage } from './stat.ts'
import { isRecord } from '../shared/is-record.ts'

export const STATS_JSON_PROTOCOL_VERSION = 1

/** Largest accepted text frame; a batch per revision is ~250 bytes, so this holds thousands. */
export const MAX_STATS_JSON_BYTES = 4 * 1024 * 1024

const NUMBER_FIELDS = [
  'averageConcurrentRequests',
  'averageProxiedConcurrentRequests',
  'requestCount',
  'proxiedRequestCount',
  'processUptime',
  'timestamp',
] as const

/** JSON has no NaN or Infinity: non-finite numbers are sent as 0 rather than as `null`. */
function finite (value: number): number {
  return Number.isFinite(value) ? value : 0
}

function statJson (stat: Stat): string {
  return '{"podName":' + JSON.stringify(stat.podName) +
    ',"averageConcurrentRequests":' + finite(stat.averageConcurrentRequests) +
    ',"averageProxiedConcurrentRequests":' + finite(stat.averageProxiedConcurrentRequests) +
    ',"requestCount":' + finite(stat.requestCount) +
    ',"proxiedRequestCount":' + finite(stat.proxiedRequestCount) +
    ',"processUptime":' + finite(stat.processUptime) +
    ',"timestamp":' + Math.trunc(finite(stat.timestamp)) + '}'
}

/** One batch as a version-1 text frame. */
export function encodeStatMessagesJson (messages: readonly WireStatMessage[]): string {
  let out = '{"version":' + STATS_JSON_PROTOCOL_VERSION + ',"messages":['
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    if (i > 0) out += ','
    out += '{"namespace":' + JSON.stringify(m.namespace) + ',"name":' + JSON.stringify(m.name) +
      ',"stat":' + (m.stat === null ? 'null' : statJson(m.stat)) + '}'
  }
  return out + ']}'
}

function decodeStat (value: unknown, where: string): Stat | null {
  if (value === null || value === undefined) return null
  if (!isRecord(value)) throw new StatDecodeError(`${where}.stat must be an object`)
  const podName = value.podName ?? ''
  if (typeof podName !== 'string') throw new StatDecodeError(`${where}.stat.podName must be a string`)
  const stat: Stat = emptyStat(podName)
  for (const field of NUMBER_FIELDS) {
    const v = value[field]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new StatDecodeError(`${where}.stat.${field} must be a number`)
    stat[field] = field === 'timestamp' ? Math.trunc(v) : v
  }
  return stat
}

/** Parses a text frame. Throws StatDecodeError (with the JSON path) on anything malformed. */
export function decodeStatMessagesJson (text: string): WireStatMessage[] {
  if (text.length > MAX_STATS_JSON_BYTES) throw new StatDecodeError('frame too large')
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new StatDecodeError('frame is not JSON', { cause: err })
  }
  if (!isRecord(doc)) throw new StatDecodeError('frame must be a JSON object')
  if (doc.version !== STATS_JSON_PROTOCOL_VERSION) {
    throw new StatDecodeError(`unsupported version ${JSON.stringify(doc.version)} (this reader knows ${STATS_JSON_PROTOCOL_VERSION})`)
  }
  const list = doc.messages
  if (!Array.isArray(list)) throw new StatDecodeError('messages must be an array')
  const out: WireStatMessage[] = []
  for (let i = 0; i < list.length; i++) {
    const where = `messages[${i}]`
    const m: unknown = list[i]
    if (!isRecord(m)) throw new StatDecodeError(`${where} must be an object`)
    const namespace = m.namespace ?? ''
    const name = m.name
    if (typeof namespace !== 'string') throw new StatDecodeError(`${where}.namespace must be a string`)
    if (typeof name !== 'string' || name === '') throw new StatDecodeError(`${where}.name must be a non-empty string`)
    out.push({ namespace, name, stat: decodeStat(m.stat, where) })
  }
  return out
}

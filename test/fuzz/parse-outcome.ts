// What one connection's bytes parsed into, in a form both sides of the differential fuzzers fill
// in: Sluice's parsers (fed in-process) and llhttp (node:http's server or client, fed over a
// loopback socket). Two outcomes are compared field by field (`describeDifference`).

/** One complete message, as the application would see it. */
export interface ParsedMessage {
  /** Request: the method; response: the status code as a string. */
  method: string
  /** Request: the target; response: empty (the reason phrase is not compared). */
  url: string
  httpMinor: number
  /** Names as sent, values as the parser delivers them (latin1). */
  rawHeaders: string[]
  /** Body bytes, latin1. */
  body: string
  rawTrailers: string[]
}

/**
 * How the input ended after the messages:
 * - `clean`: nothing left over;
 * - `incomplete`: the bytes stopped inside a message (the peer would wait, or fail at EOF);
 * - `error`: rejected as malformed (`code` says why, for reports only);
 * - `closed`: a message asked to close the connection and bytes followed (ignored by one side,
 *   an error for the other: llhttp's HPE_CLOSED_CONNECTION; both serve nothing more).
 */
export type Ending = 'clean' | 'incomplete' | 'error' | 'closed'

export interface ParseOutcome {
  messages: ParsedMessage[]
  ending: Ending
  code: string
  /** Ending `incomplete` inside a body: that message's head (its body so far), else null. */
  pending: ParsedMessage | null
}

export function newOutcome (): ParseOutcome {
  return { messages: [], ending: 'clean', code: '', pending: null }
}

/** Null when equal, else a one-line description of the first difference. */
export function describeDifference (sluice: ParseOutcome, llhttp: ParseOutcome): string | null {
  const n = Math.min(sluice.messages.length, llhttp.messages.length)
  for (let i = 0; i < n; i++) {
    const a = sluice.messages[i]
    const b = llhttp.messages[i]
    if (a === undefined || b === undefined) break
    for (const key of ['method', 'url', 'httpMinor', 'body'] as const) {
      if (a[key] !== b[key]) return `message ${i}: ${key} ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`
    }
    if (JSON.stringify(a.rawHeaders) !== JSON.stringify(b.rawHeaders)) {
      return `message ${i}: headers ${JSON.stringify(a.rawHeaders)} vs ${JSON.stringify(b.rawHeaders)}`
    }
    if (JSON.stringify(a.rawTrailers) !== JSON.stringify(b.rawTrailers)) {
      return `message ${i}: trailers ${JSON.stringify(a.rawTrailers)} vs ${JSON.stringify(b.rawTrailers)}`
    }
  }
  if (sluice.messages.length !== llhttp.messages.length) {
    return `${sluice.messages.length} messages (${sluice.ending} ${sluice.code}) vs ${llhttp.messages.length} (${llhttp.ending} ${llhttp.code})`
  }
  if (sluice.ending !== llhttp.ending) return `ending ${sluice.ending} (${sluice.code}) vs ${llhttp.ending} (${llhttp.code})`
  return null
}

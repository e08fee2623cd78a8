import type { ParsedMessage, ParseOutcome } from './parse-outcome.ts'
import { describeDifference } from './parse-outcome.ts'

// Judging a difference between Sluice's outcome and llhttp's: equal, allowed (by a named row of
// a table that says why), or a failure. The tables live in the fuzz tests; this file only applies
// them.
//
// Endings: a `clean` ending must match exactly. Two endings that both stop the connection
// (error, closed, or incomplete while still inside a head, which Sluice checks only once it is
// complete) are the same outcome: nothing more reaches the application. Sluice `incomplete`
// inside a body while llhttp failed is a real difference (Sluice would go on delivering body
// bytes that llhttp refused).

/** Sluice refuses a message that llhttp delivers: the safe direction. */
export interface StricterRow {
  readonly name: string
  readonly reason: string
  /** Matches Sluice's error code (status and message), or the code of a `closed` ending. */
  readonly sluiceCode: RegExp
  /** Narrows the row to cases whose bytes (latin1) show the cause; absent: the code is enough. */
  readonly when?: (wire: string) => boolean
}

/** llhttp refuses a message that Sluice delivers: each row must show the framing is unaffected. */
export interface LenientRow {
  readonly name: string
  readonly reason: string
  /** llhttp's error code. */
  readonly llhttpCode: string
  /** The message Sluice delivered where llhttp stopped, and the case's bytes (latin1). */
  readonly applies: (message: ParsedMessage, wire: string) => boolean
}

export interface DifferenceTable {
  readonly stricter: readonly StricterRow[]
  readonly lenient: readonly LenientRow[]
  /** Sluice's code for EOF inside a head. */
  readonly eofMidHead: string
}

/** Null when the outcomes agree or differ as a row allows; else what differs. */
export function judge (wire: string, sluice: ParseOutcome, llhttp: ParseOutcome, table: DifferenceTable): { allowedBy: string | null, failure: string | null } {
  const k = commonPrefix(sluice.messages, llhttp.messages)
  const sameMessages = k === sluice.messages.length && k === llhttp.messages.length
  if (sameMessages && endingsAgree(sluice, llhttp, table)) return { allowedBy: null, failure: null }
  if ((sluice.ending === 'error' || sluice.ending === 'closed') && k === sluice.messages.length) {
    // Sluice stopped (at message k, or closed after it) where llhttp went on.
    for (const row of table.stricter) {
      if (row.sluiceCode.test(sluice.code) && (row.when === undefined || row.when(wire))) return { allowedBy: row.name, failure: null }
    }
  }
  if (llhttp.ending === 'error' && llhttp.messages.length === k && sluice.messages.length >= k) {
    // The message Sluice took where llhttp stopped: complete, or still reading its body.
    const m = sluice.messages[k] ?? sluice.pending
    if (m !== null) {
      for (const row of table.lenient) if (row.llhttpCode === llhttp.code && row.applies(m, wire)) return { allowedBy: row.name, failure: null }
    }
  }
  return { allowedBy: null, failure: describeDifference(sluice, llhttp) ?? `ending ${sluice.ending} (${sluice.code}) vs ${llhttp.ending} (${llhttp.code})` }
}

function endingsAgree (sluice: ParseOutcome, llhttp: ParseOutcome, table: DifferenceTable): boolean {
  if (sluice.ending === llhttp.ending) return true
  if (sluice.ending === 'clean' || llhttp.ending === 'clean') return false
  if (sluice.ending === 'incomplete' && sluice.code !== table.eofMidHead) return false
  return true
}

function commonPrefix (a: readonly ParsedMessage[], b: readonly ParsedMessage[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]
    const y = b[i]
    if (x === undefined || y === undefined) return i
    if (x.method !== y.method || x.url !== y.url || x.httpMinor !== y.httpMinor || x.body !== y.body ||
        JSON.stringify(x.rawHeaders) !== JSON.stringify(y.rawHeaders) ||
        JSON.stringify(x.rawTrailers) !== JSON.stringify(y.rawTrailers)) return i
  }
  return n
}

/** Bytes as a JS string literal with every byte outside printable ASCII escaped (NBSP shows as \xa0). */
export function showBytes (b: Buffer): string {
  let out = '"'
  for (const c of b) {
    if (c === 13) out += '\\r'
    else if (c === 10) out += '\\n'
    else if (c === 34 || c === 92) out += '\\' + String.fromCharCode(c)
    else if (c < 32 || c > 126) out += '\\x' + c.toString(16).padStart(2, '0')
    else out += String.fromCharCode(c)
  }
  return out + '"'
}

/** The values of every field named `name` (case-insensitive) in a raw list. */
export function fieldValues (raw: readonly string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] ?? '').toLowerCase() === name) out.push(raw[i + 1] ?? '')
  return out
}

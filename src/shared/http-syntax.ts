// Byte classes of HTTP/1.1 syntax (RFC 9110 5.5, 5.6.2; RFC 9112 3.2), shared by H1Upstream (request
// writer, response parser) and H1Server (request parser). Tables and char-code loops instead of regular
// expressions: the checks run on every header of every request, and a loop over a short
// one-byte string is cheaper than a RegExp call (the profile shows RegExpPrototypeTestFast
// from undici's header validation).

/** tchar: 1 where the byte may appear in a token (method, field name). */
export const TOKEN = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) TOKEN[c] = 1
for (let c = 65; c <= 90; c++) TOKEN[c] = 1
for (let c = 97; c <= 122; c++) TOKEN[c] = 1

/** A non-empty token. */
export function isToken (s: string): boolean {
  const len = s.length
  if (len === 0) return false
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || TOKEN[c] === 0) return false
  }
  return true
}

/**
 * field-value: HTAB, SP, VCHAR, obs-text; so no CR, LF, NUL or other control byte (a CR/LF would
 * let a value inject a header or a whole request). Above 0xff cannot be written as latin1.
 */
export function isFieldValue (s: string): boolean {
  const len = s.length
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false
  }
  return true
}

/** A request-target we can write verbatim: visible bytes only (no SP, CR, LF, CTL), latin1. */
export function isRequestTarget (s: string): boolean {
  const len = s.length
  if (len === 0) return false
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c <= 32 || c === 127 || c > 255) return false
  }
  return true
}

/** Digits only, at most 15 (a safe integer); -1 when invalid. */
export function parseContentLength (value: string): number {
  const len = value.length
  if (len === 0 || len > 15) return -1
  let n = 0
  for (let i = 0; i < len; i++) {
    const d = value.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** Lowercase field names grouped by length, for `matchFieldName`. */
export function fieldNameTable (names: readonly string[]): string[][] {
  const table: string[][] = Array.from({ length: 64 }, () => [])
  for (const name of names) table[name.length]?.push(name)
  return table
}

/**
 * The table's constant for the name in b[start, start + len) (case-insensitive), or null. No
 * slice, no toLowerCase, and a property store with it finds an internalized key.
 */
export function matchFieldName (table: readonly string[][], b: Buffer, start: number, len: number): string | null {
  const candidates = table[len]
  if (candidates === undefined) return null
  next: for (let k = 0; k < candidates.length; k++) {
    const candidate = candidates[k] ?? ''
    // `| 0x20` lowercases ASCII letters; names hold tchars only, and no tchar turns into a
    // lowercase letter or '-' this way unless it is that letter's uppercase.
    for (let j = 0; j < len; j++) if (((b[start + j] ?? 0) | 0x20) !== candidate.charCodeAt(j)) continue next
    return candidate
  }
  return null
}

/**
 * `s` without leading and trailing optional whitespace: SP and HTAB only (RFC 9110 5.6.3).
 * Not String.prototype.trim(), which also strips VT, FF, NBSP (0xA0) and other Unicode space, so
 * `chunked\xa0` would become `chunked` for us and stay a different token for the next parser.
 */
export function trimOws (s: string): string {
  let start = 0
  let end = s.length
  while (start < end && (s.charCodeAt(start) === 32 || s.charCodeAt(start) === 9)) start++
  while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

/**
 * The whitespace after a field value, from b[valueEnd] to the line's CR (SP and HTAB only, the
 * value having been trimmed), holds an HTAB. llhttp refuses `Transfer-Encoding: chunked<HTAB>`
 * in a request and, in a response, does not take it as chunked (it reads until close): we refuse
 * it in both, so no reader frames that body differently from us.
 */
export function hasHtabAfterValue (b: Buffer, valueEnd: number): boolean {
  for (let i = valueEnd; ; i++) {
    const c = b[i]
    if (c === 9) return true
    if (c !== 32) return false
  }
}

const CHUNKED = 'chunked'

/** A field value (already OWS-trimmed) that is exactly `chunked`, in any case. */
export function isChunkedOnly (value: string): boolean {
  if (value.length !== 7) return false
  // `| 0x20` lowercases ASCII letters and maps no other byte onto one of "chunked".
  for (let i = 0; i < 7; i++) if ((value.charCodeAt(i) | 0x20) !== CHUNKED.charCodeAt(i)) return false
  return true
}

/**
 * The bytes Go's server accepts in a Host value (httpguts.ValidHostHeader): letters, digits,
 * and `!$%&'()*+,-.:;=[]_~`. Anything else is "malformed Host header" (400).
 */
const HOST_BYTE = new Uint8Array(256)
for (const c of "!$%&'()*+,-.:;=[]_~") HOST_BYTE[c.charCodeAt(0)] = 1
for (let c = 48; c <= 57; c++) HOST_BYTE[c] = 1
for (let c = 65; c <= 90; c++) HOST_BYTE[c] = 1
for (let c = 97; c <= 122; c++) HOST_BYTE[c] = 1

/** The Host value b[start, end) holds only those bytes. */
export function isValidHostBytes (b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (HOST_BYTE[b[i] ?? 0] === 0) return false
  return true
}

/** The same check for a value node:http decoded as latin1 (one char per byte). */
export function isValidHostString (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0xff || HOST_BYTE[c] === 0) return false
  }
  return true
}

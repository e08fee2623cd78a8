// Value syntax of Knative's config maps and annotations, which Go parses with strconv and
// time.ParseDuration. Matching Go's grammar exactly means a config-autoscaler map or an
// annotation that Knative accepts is accepted here, and one it rejects is rejected here.
// Each parser returns null for "not valid" (an expected outcome for user input), never throws.

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

// strconv.ParseBool: exactly these spellings, no trimming.
const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const FALSE_WORDS: ReadonlySet<string> = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

/** strconv.ParseBool. */
export function parseGoBool (s: string): boolean | null {
  if (TRUE_WORDS.has(s)) return true
  if (FALSE_WORDS.has(s)) return false
  return null
}

const INT_RE = /^[+-]?[0-9]+$/

/** strconv.ParseInt(s, 10, 32): optional sign, decimal digits only, int32 range. */
export function parseGoInt32 (s: string): number | null {
  if (!INT_RE.test(s)) return null
  const n = Number(s)
  if (n < INT32_MIN || n > INT32_MAX) return null
  // Number('-0') is -0; Go has no negative zero integer.
  return n === 0 ? 0 : n
}

// Decimal float literal (Go grammar without hex floats or digit-separating underscores).
const FLOAT_RE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/
const INF_RE = /^[+-]?(?:inf|infinity)$/i

/**
 * strconv.ParseFloat(s, 64) for decimal literals and +-Inf. NaN is rejected (Go accepts it, but
 * a NaN setting silently passes every range check, which is never what the user meant), as are
 * hex floats and `_` separators; values that overflow to +-Inf are rejected like Go's ErrRange.
 */
export function parseGoFloat (s: string): number | null {
  if (INF_RE.test(s)) return s.startsWith('-') ? -Infinity : Infinity
  if (!FLOAT_RE.test(s)) return null
  const n = Number(s)
  return Number.isFinite(n) ? n : null
}

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // U+00B5 micro sign
  ['\u03bcs', 1_000n], // U+03BC Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
])
const MAX_DURATION_NS = (1n << 63n) - 1n

function isDigit (c: string): boolean {
  return c >= '0' && c <= '9'
}

/**
 * time.ParseDuration, returning integer nanoseconds ("1h2m3.5s", "-1.5h", "300ms", "0").
 * Grammar: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ ; a bare "0" needs no unit; int64 range.
 */
export function parseGoDurationNs (input: string): bigint | null {
  let s = input
  let neg = false
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-'
    s = s.slice(1)
  }
  if (s === '0') return 0n
  if (s === '') return null
  let total = 0n
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) return null
    // Integer part.
    let i = 0
    while (i < s.length && isDigit(s[i])) i++
    const pre = i > 0
    let v = pre ? BigInt(s.slice(0, i)) : 0n
    if (v > MAX_DURATION_NS) return null
    s = s.slice(i)
    // Fraction part: Go keeps digits while they fit and scales them by the unit as a float.
    let f = 0
    let scale = 1
    let post = false
    if (s !== '' && s[0] === '.') {
      s = s.slice(1)
      let j = 0
      let overflow = false
      while (j < s.length && isDigit(s[j])) {
        if (!overflow) {
          const next = f * 10 + (s.charCodeAt(j) - 48)
          if (next > Number.MAX_SAFE_INTEGER) overflow = true
          else { f = next; scale *= 10 }
        }
        j++
      }
      post = j > 0
      s = s.slice(j)
    }
    if (!pre && !post) return null
    // Unit.
    let k = 0
    while (k < s.length && s[k] !== '.' && !isDigit(s[k])) k++
    if (k === 0) return null
    const unit = NS_PER_UNIT.get(s.slice(0, k))
    if (unit === undefined) return null
    s = s.slice(k)
    v *= unit
    if (f > 0) v += BigInt(Math.trunc(f * (Number(unit) / scale)))
    total += v
    if (total > MAX_DURATION_NS + (neg ? 1n : 0n)) return null
  }
  return neg ? -total : total
}

/** Nanoseconds to (possibly fractional) milliseconds. */
export function nsToMs (ns: bigint): number {
  return Number(ns) / 1e6
}

/** Whether a duration has at most second precision (Go: `d.Round(time.Second) == d`). */
export function isWholeSeconds (ns: bigint): boolean {
  return ns % 1_000_000_000n === 0n
}

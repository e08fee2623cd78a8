import { formatValue } from './go-fmt.ts'
import { GoExecError, GoStringer, type GoObject, type GoValue } from './go-value.ts'

// text/template/parse node.go newNumber and exec.go idealConstant: what a number literal in a
// template is (int, float64, complex128, or a rune constant), with strconv's syntax rules
// (ParseInt/ParseUint base 0, ParseFloat, UnquoteChar) and Go's error messages.

/** A complex128 (only literals like `1+2i` make one). fmt prints it `(1+2i)`. */
export class GoComplex implements GoObject {
  readonly goType = 'complex128'
  readonly re: number
  readonly im: number
  constructor (re: number, im: number) { this.re = re; this.im = im }

  goLookup (name: string): GoValue { throw new GoExecError(`can't evaluate field ${name} in type complex128`) }

  goPrint (): GoStringer {
    const re = formatValue(this.re)
    const im = formatValue(this.im)
    return new GoStringer(`(${re}${im.startsWith('-') || im.startsWith('+') ? '' : '+'}${im}i)`)
  }
}

export interface GoNumber {
  readonly isInt: boolean
  readonly isUint: boolean
  readonly isFloat: boolean
  readonly isComplex: boolean
  readonly int64: bigint
  readonly float64: number
  readonly complex: GoComplex | null
  /** idealConstant: the value by syntax alone; null = `X overflows int` at execution. */
  readonly ideal: GoValue | null
}

const INT64_MAX = 0x7fffffffffffffffn
const INT64_MIN = -0x8000000000000000n
const UINT64_MAX = 0xffffffffffffffffn

/** Parses a number item; a string is Go's parse error message. */
export function parseGoNumber (text: string, isChar: boolean, isComplexItem: boolean): GoNumber | string {
  if (isChar) {
    const r = unquoteChar(text)
    if (typeof r === 'string') return r
    const v = BigInt(r)
    return { isInt: true, isUint: true, isFloat: true, isComplex: false, int64: v, float64: r, complex: null, ideal: v }
  }
  if (isComplexItem) {
    // fmt.Sscan of `re+imi`.
    const m = /^([+-]?[^+-]+(?:[eEpP][+-]?[^+-]*)?)([+-].*)i$/.exec(text)
    const re = m === null ? Number.NaN : strconvParseFloat(m[1] ?? '')
    const im = m === null ? Number.NaN : strconvParseFloat(m[2] ?? '')
    if (Number.isNaN(re) || Number.isNaN(im)) return 'expected integer' // fmt.Sscan's complaint; not worth more
    return simplifyComplex(re, im)
  }
  if (text.endsWith('i')) {
    const f = strconvParseFloat(text.slice(0, -1))
    if (!Number.isNaN(f)) return simplifyComplex(0, f)
  }
  const u = strconvParseInt(text, true)
  const i = strconvParseInt(text, false)
  const isUint = u !== null || i === 0n
  const isInt = i !== null
  if (isInt || isUint) {
    const int64 = i ?? 0n
    const float64 = isInt ? Number(int64) : Number(u ?? 0n)
    return { isInt, isUint, isFloat: true, isComplex: false, int64, float64, complex: null, ideal: idealOf(text, isInt, true, int64, float64) }
  }
  const f = strconvParseFloat(text)
  if (!Number.isNaN(f)) {
    if (!/[.eEpP]/.test(text)) return `integer overflow: ${JSON.stringify(text)}`
    const isIntF = Number.isInteger(f) && BigInt(f) <= INT64_MAX && BigInt(f) >= INT64_MIN
    const int64 = isIntF ? BigInt(f) : 0n
    return { isInt: isIntF, isUint: Number.isInteger(f) && f >= 0 && BigInt(f) <= UINT64_MAX, isFloat: true, isComplex: false, int64, float64: f, complex: null, ideal: idealOf(text, isIntF, true, int64, f) }
  }
  return `illegal number syntax: ${JSON.stringify(text)}`
}

/** exec.go idealConstant for a non-complex literal. */
function idealOf (text: string, isInt: boolean, isFloat: boolean, int64: bigint, float64: number): GoValue | null {
  const isHexInt = text.length > 2 && text[0] === '0' && (text[1] === 'x' || text[1] === 'X') && !/[pP]/.test(text)
  if (isFloat && !isHexInt && /[.eEpP]/.test(text)) return float64
  if (isInt) return int64
  return null
}

function simplifyComplex (re: number, im: number): GoNumber {
  const c = new GoComplex(re, im)
  if (im !== 0) return { isInt: false, isUint: false, isFloat: false, isComplex: true, int64: 0n, float64: 0, complex: c, ideal: c }
  const isInt = Number.isInteger(re) && Math.abs(re) < 2 ** 63
  return { isInt, isUint: isInt && re >= 0, isFloat: true, isComplex: true, int64: isInt ? BigInt(re) : 0n, float64: re, complex: c, ideal: c }
}

/** strconv.ParseFloat: Go's syntax (underscores only with a base prefix, hex floats need p). */
function strconvParseFloat (text: string): number {
  let s = text
  let sign = 1
  if (s[0] === '+' || s[0] === '-') { if (s[0] === '-') sign = -1; s = s.slice(1) }
  if (/^(inf|infinity)$/i.test(s)) return sign * Infinity
  if (/^nan$/i.test(s)) return Number.NaN
  if (/^0[xX]/.test(s)) {
    const m = /^0[xX]((?:_?[0-9a-fA-F])*)(?:\.((?:[0-9a-fA-F]_?)*))?[pP]([+-]?\d+(?:_?\d)*)$/.exec(s)
    if (m === null || ((m[1] ?? '') === '' && (m[2] ?? '') === '')) return Number.NaN
    const intPart = (m[1] ?? '').replaceAll('_', '')
    const frac = (m[2] ?? '').replaceAll('_', '')
    const mant = Number.parseInt((intPart + frac) || '0', 16)
    return sign * mant * 2 ** (Number((m[3] ?? '0').replaceAll('_', '')) - 4 * frac.length)
  }
  if (s.includes('_') && !underscoreOK(text)) return Number.NaN
  const clean = s.replaceAll('_', '')
  if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(clean)) return Number.NaN
  return sign * Number(clean)
}

/** strconv.ParseInt / ParseUint (base 0, 64 bit): null on a syntax or range error. */
function strconvParseInt (text: string, unsigned: boolean): bigint | null {
  let s = text
  let neg = false
  if (s[0] === '+' || s[0] === '-') {
    if (unsigned) return null
    neg = s[0] === '-'
    s = s.slice(1)
  }
  let base = 10
  let digits = s
  if (/^0[xX]/.test(s)) { base = 16; digits = s.slice(2) } else if (/^0[oO]/.test(s)) { base = 8; digits = s.slice(2) } else if (/^0[bB]/.test(s)) { base = 2; digits = s.slice(2) } else if (s.length > 1 && s[0] === '0') { base = 8; digits = s.slice(1) }
  if (digits === '') return null
  if (digits.includes('_') && !underscoreOK(text)) return null
  const clean = digits.replaceAll('_', '')
  const valid = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/
  if (!valid.test(clean)) return null
  let n = 0n
  const b = BigInt(base)
  for (const c of clean) n = n * b + BigInt(Number.parseInt(c, 16))
  if (neg) n = -n
  if (unsigned) return n <= UINT64_MAX ? n : null
  return n <= INT64_MAX && n >= INT64_MIN ? n : null
}

/** strconv underscoreOK: `_` only between digits, or between a base prefix and a digit. */
function underscoreOK (text: string): boolean {
  let s = text
  let saw = '^'
  let i = 0
  if (s[0] === '-' || s[0] === '+') s = s.slice(1)
  let hex = false
  if (s.length >= 2 && s[0] === '0' && 'bBoOxX'.includes(s[1] ?? '')) {
    i = 2
    saw = '0'
    hex = s[1] === 'x' || s[1] === 'X'
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? ''
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) { saw = '0'; continue }
    if (c === '_') {
      if (saw !== '0') return false
      saw = '_'
      continue
    }
    if (saw === '_') return false
    saw = '!'
  }
  return saw !== '_'
}

/** strconv.UnquoteChar of a 'x' literal; a string is the error. */
function unquoteChar (text: string): number | string {
  const body = text.slice(1)
  if (body[0] === '\'' || body === '') return 'invalid syntax'
  let r: number
  let rest: string
  if (body[0] !== '\\') {
    r = body.codePointAt(0) ?? 0
    rest = body.slice(String.fromCodePoint(r).length)
  } else {
    const e = body[1] ?? ''
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c, '\'': 0x27 }
    if (simple[e] !== undefined) { r = simple[e]; rest = body.slice(2) } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
      const hex = body.slice(2, 2 + n)
      if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) return 'invalid syntax'
      r = Number.parseInt(hex, 16)
      if (e !== 'x' && (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))) return 'invalid syntax'
      rest = body.slice(2 + n)
    } else if (e >= '0' && e <= '7') {
      const oct = body.slice(1, 4)
      if (!/^[0-7]{3}$/.test(oct)) return 'invalid syntax'
      r = Number.parseInt(oct, 8)
      if (r > 255) return 'invalid syntax'
      rest = body.slice(4)
    } else return 'invalid syntax'
  }
  if (rest !== '\'') return `malformed character constant: ${text}`
  return r
}

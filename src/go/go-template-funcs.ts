import { formatValue, isPrint, sprint, sprintf, sprintln, sprintTemplateArgs } from './go-fmt.ts'
import { GoComplex } from './go-template-number.ts'
import { queryEscape } from './go-url.ts'
import { GoNil, GoStringMap, goTypeName, isStringSlice, NO_VALUE, type GoValue } from './go-value.ts'

// text/template funcs.go: the builtin functions with Go's signatures (they decide how exec.go
// evaluates and checks each argument) and Go's results and error texts. An error returned here
// becomes `error calling <name>: <message>` in go-template-exec.ts.

/** A value a template holds: a Go value or a complex literal. */
export type TValue = GoValue

/** Parameter types, as exec.go's evalArg and validateType tell them apart. */
export const T_VALUE = 'reflect.Value'
export const T_ANY = 'interface {}'
export const T_STRING = 'string'
export const T_INT = 'int'
export type ParamType = typeof T_VALUE | typeof T_ANY | typeof T_STRING | typeof T_INT

export interface Signature {
  readonly params: readonly ParamType[]
  /** The last parameter is `...T`. */
  readonly variadic: boolean
}

/** A builtin's failure (Go returns it as the function's error). */
export class FuncError extends Error {}

export interface Builtin {
  readonly sig: Signature
  /** Not called for and/or/call (exec.go special-cases them). */
  readonly fn: (args: readonly TValue[]) => TValue
}

const VALUE_VARIADIC: Signature = { params: [T_VALUE, T_VALUE], variadic: true }
const ANY_VARIADIC: Signature = { params: [T_ANY], variadic: true }
const ONE_VALUE: Signature = { params: [T_VALUE], variadic: false }
const TWO_VALUES: Signature = { params: [T_VALUE, T_VALUE], variadic: false }

function unreachable (): TValue { throw new FuncError('unreachable') }

export const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ['and', { sig: VALUE_VARIADIC, fn: unreachable }],
  ['or', { sig: VALUE_VARIADIC, fn: unreachable }],
  ['call', { sig: VALUE_VARIADIC, fn: unreachable }],
  ['not', { sig: ONE_VALUE, fn: (a) => !truth(arg(a, 0)) }],
  ['html', { sig: ANY_VARIADIC, fn: (a) => htmlEscape(evalArgs(a)) }],
  ['js', { sig: ANY_VARIADIC, fn: (a) => jsEscape(evalArgs(a)) }],
  ['urlquery', { sig: ANY_VARIADIC, fn: (a) => queryEscape(evalArgs(a)) }],
  ['print', { sig: ANY_VARIADIC, fn: (a) => sprint(plain(a)) }],
  ['println', { sig: ANY_VARIADIC, fn: (a) => sprintln(plain(a)) }],
  ['printf', { sig: { params: [T_STRING, T_ANY], variadic: true }, fn: (a) => { const f = arg(a, 0); return sprintf(typeof f === 'string' ? f : '', plain(a.slice(1))) } }],
  ['index', { sig: VALUE_VARIADIC, fn: (a) => index(arg(a, 0), a.slice(1)) }],
  ['slice', { sig: VALUE_VARIADIC, fn: (a) => slice(arg(a, 0), a.slice(1)) }],
  ['len', { sig: ONE_VALUE, fn: (a) => length(arg(a, 0)) }],
  ['eq', { sig: VALUE_VARIADIC, fn: (a) => eq(arg(a, 0), a.slice(1)) }],
  ['ne', { sig: TWO_VALUES, fn: (a) => !eq(arg(a, 0), a.slice(1)) }],
  ['lt', { sig: TWO_VALUES, fn: (a) => lt(arg(a, 0), arg(a, 1)) }],
  ['le', { sig: TWO_VALUES, fn: (a) => lt(arg(a, 0), arg(a, 1)) || eq(arg(a, 0), a.slice(1)) }],
  ['gt', { sig: TWO_VALUES, fn: (a) => !(lt(arg(a, 0), arg(a, 1)) || eq(arg(a, 0), a.slice(1))) }],
  ['ge', { sig: TWO_VALUES, fn: (a) => !lt(arg(a, 0), arg(a, 1)) }],
])

export const BUILTIN_NAMES: ReadonlySet<string> = new Set(BUILTINS.keys())

function plain (args: readonly TValue[]): readonly GoValue[] { return args }

/** Argument i (a Go nil stays null; `??` would turn it into NO_VALUE). */
function arg (args: readonly TValue[], i: number): TValue {
  const v = args[i]
  return v === undefined ? NO_VALUE : v
}

/** The type of the value a pointer points to (funcs.go indirects before naming it). */
function elemTypeName (v: TValue): string {
  const name = typeName(v)
  return name.startsWith('*') ? name.slice(1) : name
}

/** Go's type name. */
export function typeName (v: TValue): string { return goTypeName(v) }

/** exec.go isTrue: [truth, ok]. */
export function isTrue (v: TValue): [boolean, boolean] {
  if (v === NO_VALUE || v === null || v instanceof GoNil) return [false, true]
  switch (typeof v) {
    case 'string': return [v !== '', true]
    case 'bigint': return [v !== 0n, true]
    case 'number': return [v !== 0, true]
    case 'boolean': return [v, true]
  }
  if (v instanceof GoComplex) return [v.re !== 0 || v.im !== 0, true]
  if (isStringSlice(v)) return [v.length > 0, true]
  if (v instanceof GoStringMap) return [v.entries.size > 0, true]
  return [true, true]
}

export function truth (v: TValue): boolean { return isTrue(v)[0] }

/** funcs.go evalArgs: one string as is, else fmt.Sprint with invalid values as `<no value>`. */
function evalArgs (args: readonly TValue[]): string {
  return sprintTemplateArgs(plain(args))
}

type Kind = 'bool' | 'int' | 'float' | 'complex' | 'string' | null

function basicKind (v: TValue): Kind {
  switch (typeof v) {
    case 'boolean': return 'bool'
    case 'bigint': return 'int'
    case 'number': return 'float'
    case 'string': return 'string'
  }
  return v instanceof GoComplex ? 'complex' : null
}

function eq (a: TValue, rest: readonly TValue[]): boolean {
  if (rest.length === 0) throw new FuncError('missing argument for comparison')
  const k1 = basicKind(a)
  for (const b of rest) {
    const k2 = basicKind(b)
    if (k1 !== k2) {
      if (a !== NO_VALUE && b !== NO_VALUE) throw new FuncError(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`)
      continue
    }
    if (k1 === 'complex' && a instanceof GoComplex && b instanceof GoComplex) {
      if (a.re === b.re && a.im === b.im) return true
      continue
    }
    if (k1 !== null) {
      if (a === b) return true
      continue
    }
    // Not basic: nil-able kinds compare by nil-ness, others must be comparable.
    const aNil = a === NO_VALUE || a === null || a instanceof GoNil
    const bNil = b === NO_VALUE || b === null || b instanceof GoNil
    if (kindOf(a) !== kindOf(b) && a !== NO_VALUE && b !== NO_VALUE) {
      throw new FuncError(`non-comparable types ${formatValue(plainOne(a))}: ${typeName(a)}, ${typeName(b)}: ${formatValue(plainOne(b))}`)
    }
    if (aNil || bNil) {
      if (aNil === bNil) return true
      continue
    }
    if (isStringSlice(b) || b instanceof GoStringMap) throw new FuncError(`non-comparable type ${formatValue(plainOne(b))}: ${typeName(b)}`)
    if (a === b) return true
  }
  return false
}

function plainOne (v: TValue): GoValue { return v }

/** reflect Kind, coarse: enough for canCompare. */
function kindOf (v: TValue): string {
  if (v === NO_VALUE) return 'invalid'
  if (v === null) return 'ptr'
  if (v instanceof GoNil) return v.isChan ? 'chan' : 'ptr'
  if (isStringSlice(v)) return 'slice'
  if (v instanceof GoStringMap) return 'map'
  return 'ptr'
}

function lt (a: TValue, b: TValue): boolean {
  const k1 = basicKind(a)
  if (k1 === null) throw new FuncError('invalid type for comparison')
  const k2 = basicKind(b)
  if (k2 === null) throw new FuncError('invalid type for comparison')
  if (k1 !== k2) throw new FuncError(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`)
  if (k1 === 'bool' || k1 === 'complex') throw new FuncError('invalid type for comparison')
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) < 0
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b
  if (typeof a === 'number' && typeof b === 'number') return a < b
  return false
}

/** funcs.go indexArg. */
function indexArg (index: TValue, cap: number): number {
  if (typeof index !== 'bigint') {
    if (index === NO_VALUE) throw new FuncError('cannot index slice/array with nil')
    throw new FuncError(`cannot index slice/array with type ${typeName(index)}`)
  }
  if (index < 0n || index > BigInt(cap)) throw new FuncError(`index out of range: ${index}`)
  return Number(index)
}

function index (item: TValue, indexes: readonly TValue[]): TValue {
  if (item === NO_VALUE) throw new FuncError('index of untyped nil')
  let cur: TValue = item
  for (const ix of indexes) {
    if (cur === null || (cur instanceof GoNil && !cur.isChan)) throw new FuncError('index of nil pointer')
    if (typeof cur === 'string') {
      const bytes = Buffer.from(cur, 'utf8')
      const x = indexArg(ix, bytes.length)
      // reflect's Index panics at len; safeCall reports the panic.
      if (x >= bytes.length) throw new FuncError('reflect: string index out of range')
      cur = BigInt(bytes[x] ?? 0)
    } else if (isStringSlice(cur)) {
      const x = indexArg(ix, cur.length)
      if (x >= cur.length) throw new FuncError('reflect: slice index out of range')
      cur = cur[x] ?? ''
    } else if (cur instanceof GoStringMap) {
      if (ix === NO_VALUE) throw new FuncError('value is nil; should be of type string')
      if (typeof ix !== 'string') throw new FuncError(`value has type ${typeName(ix)}; should be string`)
      cur = cur.get(ix) ?? []
    } else {
      throw new FuncError(`can't index item of type ${elemTypeName(cur)}`)
    }
  }
  return cur
}

function slice (item: TValue, indexes: readonly TValue[]): TValue {
  if (item === NO_VALUE) throw new FuncError('slice of untyped nil')
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`)
  let len: number
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new FuncError('cannot 3-index slice a string')
    len = Buffer.byteLength(item, 'utf8')
  } else if (isStringSlice(item)) {
    len = item.length
  } else {
    throw new FuncError(`can't slice item of type ${typeName(item)}`)
  }
  const idx = [0, len, 0]
  for (let i = 0; i < indexes.length; i++) idx[i] = indexArg(arg(indexes, i), len)
  const lo = idx[0] ?? 0
  const hi = idx[1] ?? len
  if (lo > hi) throw new FuncError(`invalid slice index: ${lo} > ${hi}`)
  if (indexes.length === 3 && hi > (idx[2] ?? 0)) throw new FuncError(`invalid slice index: ${hi} > ${idx[2] ?? 0}`)
  if (typeof item === 'string') return Buffer.from(item, 'utf8').subarray(lo, hi).toString('utf8')
  return item.slice(lo, hi)
}

function length (item: TValue): TValue {
  if (item === null || (item instanceof GoNil && !item.isChan)) throw new FuncError('len of nil pointer')
  if (item instanceof GoNil) return 0n // a nil channel
  if (typeof item === 'string') return BigInt(Buffer.byteLength(item, 'utf8'))
  if (item !== NO_VALUE && isStringSlice(item)) return BigInt(item.length)
  if (item instanceof GoStringMap) return BigInt(item.entries.size)
  // Go's length() asks an invalid value for its type: reflect panics, safeCall reports it.
  if (item === NO_VALUE) throw new FuncError('reflect: call of reflect.Value.Type on zero Value')
  throw new FuncError(`len of type ${elemTypeName(item)}`)
}

/** template.HTMLEscapeString. */
export function htmlEscape (s: string): string {
  let out = ''
  let last = 0
  for (let i = 0; i < s.length; i++) {
    let rep: string
    switch (s.charCodeAt(i)) {
      case 0: rep = '\uFFFD'; break
      case 0x22: rep = '&#34;'; break
      case 0x27: rep = '&#39;'; break
      case 0x26: rep = '&amp;'; break
      case 0x3c: rep = '&lt;'; break
      case 0x3e: rep = '&gt;'; break
      default: continue
    }
    out += s.slice(last, i) + rep
    last = i + 1
  }
  return last === 0 ? s : out + s.slice(last)
}

const JS_HEX = '0123456789ABCDEF'

/** ASCII replacements of template.JSEscapeString ('' = kept as is). */
const JS_ASCII: readonly string[] = (() => {
  const table: string[] = []
  for (let c = 0; c < 0x80; c++) table.push(c < 0x20 ? '\\u00' + (JS_HEX[c >> 4] ?? '') + (JS_HEX[c & 15] ?? '') : '')
  table[0x5c] = '\\\\'
  table[0x27] = "\\'"
  table[0x22] = '\\"'
  table[0x3c] = '\\u003C'
  table[0x3e] = '\\u003E'
  table[0x26] = '\\u0026'
  table[0x3d] = '\\u003D'
  return table
})()

/** template.JSEscapeString. */
export function jsEscape (s: string): string {
  let out = ''
  let last = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      const rep = JS_ASCII[c] ?? ''
      if (rep === '') continue
      out += s.slice(last, i) + rep
      last = i + 1
      continue
    }
    // Non-ASCII: printable runes stay, others become \uXXXX (Go's %04X of the rune).
    const cp = s.codePointAt(i) ?? c
    const width = cp > 0xffff ? 2 : 1
    if (isPrint(String.fromCodePoint(cp))) { i += width - 1; continue }
    out += s.slice(last, i) + '\\u' + cp.toString(16).toUpperCase().padStart(4, '0')
    i += width - 1
    last = i + 1
  }
  return last === 0 ? s : out + s.slice(last)
}

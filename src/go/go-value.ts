// Go values as a text/template sees them, for the Go template engine (go-template.ts) and Go's fmt
// printing rules (go-fmt.ts). Only the kinds Knative's request-log data holds exist:
//
// | Go                         | here                                                          |
// |----------------------------|---------------------------------------------------------------|
// | string                     | string (Unicode; wire bytes are decoded as UTF-8 first)       |
// | int (all integer kinds)    | bigint                                                        |
// | float64                    | number                                                        |
// | bool                       | boolean                                                       |
// | nil pointer / interface    | null (prints `<nil>`)                                         |
// | invalid reflect.Value      | NO_VALUE: a missing map key reached by `.Key` (prints `<no value>`) |
// | []string                   | readonly string[]                                             |
// | map[string][]string        | GoStringMap (http.Header, url.Values)                         |
// | struct / pointer to struct | GoObject (fields and methods looked up by name)               |

/** text/template's invalid value: `{{.Request.Header.Missing}}` prints `<no value>`. */
export const NO_VALUE: unique symbol = Symbol('go: no value')
export type NoValue = typeof NO_VALUE

export type GoValue = string | bigint | number | boolean | null | NoValue | readonly string[] | GoStringMap | GoObject

/**
 * Raised while executing a template (Knative then writes its fallback line) or on a bad call. A
 * broken template raises one per request, so no stack trace is captured: it would never be read.
 */
export class GoExecError extends Error {
  constructor (message: string) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = 'GoExecError'
  }
}

/** No arguments: the argument list of a field access or a niladic method reached mid-chain. */
export const NO_ARGS: readonly GoValue[] = Object.freeze([])

const ONE_STRING: readonly string[] = Object.freeze(['string'])
/** A method without parameters. */
export const NO_PARAMS: readonly string[] = Object.freeze([])

/** A struct (or pointer to one) with fields and methods; the template reaches them by name. */
export interface GoObject {
  /** Go's type name for messages: `*http.Request`. */
  readonly goType: string
  /**
   * Field or method `name`. `args` are the method's arguments (always NO_ARGS for a field); a
   * field given arguments, a wrong argument count or a name the type lacks throws GoExecError.
   */
  goLookup (name: string, args: readonly GoValue[]): GoValue
  /**
   * The parameter types (`string`, `int`) of method `name`, or null when `name` is not a method
   * (a field or a map key). The template engine checks and evaluates a method's arguments by
   * them, as Go's reflection does. Absent: the type has no methods.
   */
  goParams? (name: string): readonly string[] | null
  /** fmt's %v of the value: a Stringer's String(), else the fields in declaration order. */
  goPrint (): GoStringer | readonly GoValue[]
  /** The struct's field names, in goPrint's order (fmt's %+v prints `{Name:value ...}`). */
  goFieldNames? (): readonly string[]
}

/** A fmt.Stringer's result (so %v/%s/%q format the string, as fmt's handleMethods does). */
export class GoStringer {
  readonly text: string
  constructor (text: string) { this.text = text }
}

/**
 * map[string][]string with Go's printing (`map[A:[x] B:[y z]]`, keys sorted) and the methods
 * templates call on it (`Get`, `Values`). http.Header canonicalises the key in Get/Values; url.Values
 * does not.
 */
export class GoStringMap implements GoObject {
  readonly goType: string
  readonly entries: ReadonlyMap<string, readonly string[]>
  readonly #canonicalKeys: boolean

  constructor (goType: string, entries: ReadonlyMap<string, readonly string[]>, canonicalKeys: boolean) {
    this.goType = goType
    this.entries = entries
    this.#canonicalKeys = canonicalKeys
  }

  /** Go's m[key]: undefined when absent. */
  get (key: string): readonly string[] | undefined { return this.entries.get(key) }

  goParams (name: string): readonly string[] | null {
    return name === 'Get' || name === 'Values' ? ONE_STRING : null
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (name === 'Get' || name === 'Values') {
      const key = args.length === 1 ? args[0] : undefined
      if (typeof key !== 'string') throw new GoExecError(`wrong arguments for ${this.goType}.${name}: want one string`)
      const values = this.entries.get(this.#canonicalKeys ? canonicalHeaderKey(key) : key)
      if (name === 'Values') return values ?? []
      return values?.[0] ?? ''
    }
    // A map reached with `.Key`: the entry, or text/template's invalid value when it is absent.
    if (args.length > 0) throw new GoExecError(`${name} is not a method but has arguments`)
    return this.entries.get(name) ?? NO_VALUE
  }

  goPrint (): readonly GoValue[] { return [] }
}

/** textproto.CanonicalMIMEHeaderKey: `x-b3-traceid` -> `X-B3-Traceid`; keys that are not tokens stay as they are. */
export function canonicalHeaderKey (name: string): string {
  let isCanonical = true
  let upper = true
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (!isTokenChar(c)) return name
    if (upper ? (c >= 0x61 && c <= 0x7a) : (c >= 0x41 && c <= 0x5a)) isCanonical = false
    upper = c === 0x2d
  }
  if (isCanonical) return name
  let out = ''
  upper = true
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i)
    if (upper && c >= 0x61 && c <= 0x7a) c -= 0x20
    else if (!upper && c >= 0x41 && c <= 0x5a) c += 0x20
    out += String.fromCharCode(c)
    upper = c === 0x2d
  }
  return out
}

/** RFC 7230 tchar. */
function isTokenChar (c: number): boolean {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true
  switch (c) {
    case 0x21: case 0x23: case 0x24: case 0x25: case 0x26: case 0x27: case 0x2a: case 0x2b:
    case 0x2d: case 0x2e: case 0x5e: case 0x5f: case 0x60: case 0x7c: case 0x7e:
      return true
    default:
      return false
  }
}

/** Go's type name of a value, for fmt's `%!verb(type=value)` and error messages. */
export function goTypeName (v: GoValue): string {
  if (v === null || v === NO_VALUE) return 'nil'
  switch (typeof v) {
    case 'string': return 'string'
    case 'bigint': return 'int'
    case 'number': return 'float64'
    case 'boolean': return 'bool'
    default: return isStringSlice(v) ? '[]string' : v.goType
  }
}

/**
 * A typed nil: a nil pointer (`.Request.TLS` on plain HTTP is a nil *tls.ConnectionState) or a nil
 * channel. Go still knows its type, so it names it in errors (`nil pointer evaluating
 * *tls.ConnectionState.Version`), `%T` and bad verbs, and calls the methods that accept a nil
 * receiver (a nil *url.Userinfo prints as "" through its String method).
 */
export class GoNil implements GoObject {
  readonly goType: string
  /** Kind: a pointer to a struct, or a channel (which a template cannot print). */
  readonly isChan: boolean
  /** String() on the nil receiver, or null when the type is no Stringer. */
  readonly nilString: string | null
  readonly #fields: readonly string[]
  readonly #methods: Readonly<Record<string, () => GoValue>>

  constructor (goType: string, fields: readonly string[], options: { isChan?: boolean, nilString?: string, methods?: Readonly<Record<string, () => GoValue>> } = {}) {
    this.goType = goType
    this.isChan = options.isChan ?? false
    this.nilString = options.nilString ?? null
    this.#fields = fields
    this.#methods = options.methods ?? {}
  }

  goParams (name: string): readonly string[] | null {
    return Object.hasOwn(this.#methods, name) ? NO_PARAMS : null
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    const method = Object.hasOwn(this.#methods, name) ? this.#methods[name] : undefined
    if (method !== undefined) {
      if (args.length > 0) throw new GoExecError(`wrong number of args for ${name}: want 0 got ${args.length}`)
      return method()
    }
    if (!this.isChan && this.#fields.includes(name)) throw new GoExecError(`nil pointer evaluating ${this.goType}.${name}`)
    throw new GoExecError(`can't evaluate field ${name} in type ${this.goType}`)
  }

  goPrint (): GoStringer | readonly GoValue[] {
    return this.nilString === null ? [] : new GoStringer(this.nilString)
  }
}

export function isStringSlice (v: GoValue): v is readonly string[] {
  return Array.isArray(v)
}

/**
 * A wire string (header, URL: Node decodes them as latin1, one char per byte) as the Unicode text Go
 * would print from the same bytes. ASCII, the common case, is returned as is.
 */
export function fromWire (s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.from(s, 'latin1').toString('utf8')
  }
  return s
}

/**
 * A struct with fixed fields in declaration order, plus optional niladic methods: for small
 * structs (Knative's RequestLogRevision) and tests. Printed as `{v1 v2 ...}`.
 */
export class GoRecord implements GoObject {
  readonly goType: string
  readonly #fields: Readonly<Record<string, GoValue>>
  readonly #methods: Readonly<Record<string, () => GoValue>>

  constructor (goType: string, fields: Readonly<Record<string, GoValue>>, methods: Readonly<Record<string, () => GoValue>> = {}) {
    this.goType = goType
    this.#fields = fields
    this.#methods = methods
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (Object.hasOwn(this.#fields, name)) {
      if (args.length > 0) throw new GoExecError(`${name} has arguments but cannot be invoked as function`)
      return this.#fields[name] ?? null
    }
    const method = Object.hasOwn(this.#methods, name) ? this.#methods[name] : undefined
    if (method !== undefined) {
      if (args.length > 0) throw new GoExecError(`wrong number of args for ${name}: want 0 got ${args.length}`)
      return method()
    }
    throw new GoExecError(`can't evaluate field ${name} in type ${this.goType}`)
  }

  goParams (name: string): readonly string[] | null {
    return Object.hasOwn(this.#methods, name) ? NO_PARAMS : null
  }

  goPrint (): readonly GoValue[] { return Object.values(this.#fields) }

  goFieldNames (): readonly string[] { return Object.keys(this.#fields) }
}

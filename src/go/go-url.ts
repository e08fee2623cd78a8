import { fromWire, GoExecError, GoNil, GoStringer, GoStringMap, NO_PARAMS, type GoObject, type GoValue } from './go-value.ts'

// Go's *url.URL as net/http's server builds it from the request target (url.ParseRequestURI), for
// request-log templates: fields (Scheme, Host, Path, RawPath, RawQuery, ...) and the methods a
// template can call (String, EscapedPath, RequestURI, Query, Hostname, Port, IsAbs, Redacted).
// `{{.Request.URL}}` prints String(): the escaped path plus the raw query, so `/a%2Fb?x=1` prints
// as sent, and bytes a path may not hold (`"`, space, non-ASCII) come out %-escaped as Go does.
// Strings here are wire strings (latin1, one char per byte), as Node hands them over.

const HEX = '0123456789ABCDEF'

/** A nil *url.Userinfo: its methods accept a nil receiver (Username "", String ""). */
const NIL_USERINFO = new GoNil('*url.Userinfo', [], { nilString: '', methods: { Username: () => '', String: () => '' } })

const URL_METHODS: readonly string[] = ['String', 'EscapedPath', 'EscapedFragment', 'RequestURI', 'Query', 'Hostname', 'Port', 'IsAbs', 'Redacted']

const URL_FIELDS: readonly string[] = ['Scheme', 'Opaque', 'User', 'Host', 'Path', 'RawPath', 'OmitHost', 'ForceQuery', 'RawQuery', 'Fragment', 'RawFragment']

export class GoURL implements GoObject {
  readonly goType = '*url.URL'
  readonly scheme: string
  readonly opaque: string
  /** The raw userinfo before `@`; null when the target has none (Go: User == nil). */
  readonly userinfo: string | null
  readonly host: string
  /** Decoded path (Unicode). */
  readonly path: string
  /** The path as sent when Go's escaping of `path` would differ, else ''. Wire string. */
  readonly rawPath: string
  readonly omitHost: boolean
  readonly forceQuery: boolean
  readonly rawQuery: string

  constructor (scheme: string, opaque: string, userinfo: string | null, host: string, path: string, rawPath: string, omitHost: boolean, forceQuery: boolean, rawQuery: string) {
    this.scheme = scheme
    this.opaque = opaque
    this.userinfo = userinfo
    this.host = host
    this.path = path
    this.rawPath = rawPath
    this.omitHost = omitHost
    this.forceQuery = forceQuery
    this.rawQuery = rawQuery
  }

  goParams (name: string): readonly string[] | null {
    return URL_METHODS.includes(name) ? NO_PARAMS : null
  }

  goFieldNames (): readonly string[] { return URL_FIELDS }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    const isField = URL_FIELDS.includes(name)
    if (isField && args.length > 0) throw new GoExecError(`${name} has arguments but cannot be invoked as function`)
    if (!isField && args.length > 0) throw new GoExecError(`wrong number of args for ${name}: want 0 got ${args.length}`)
    switch (name) {
      case 'Scheme': return this.scheme
      case 'Opaque': return fromWire(this.opaque)
      case 'User': return this.userinfo === null ? NIL_USERINFO : new GoUserinfo(this.userinfo)
      case 'Host': return fromWire(this.host)
      case 'Path': return this.path
      case 'RawPath': return fromWire(this.rawPath)
      case 'OmitHost': return this.omitHost
      case 'ForceQuery': return this.forceQuery
      case 'RawQuery': return fromWire(this.rawQuery)
      case 'Fragment': case 'RawFragment': return ''
      case 'String': return this.string()
      case 'EscapedPath': return fromWire(this.escapedPath())
      case 'EscapedFragment': return ''
      case 'RequestURI': return this.requestURI()
      case 'Query': return parseQuery(this.rawQuery)
      case 'Hostname': return fromWire(splitHostPort(this.host)[0])
      case 'Port': return splitHostPort(this.host)[1]
      case 'IsAbs': return this.scheme !== ''
      case 'Redacted': return this.redacted()
    }
    throw new GoExecError(`can't evaluate field ${name} in type *url.URL`)
  }

  goPrint (): GoStringer { return new GoStringer(this.string()) }

  /** URL.EscapedPath, as a wire string. */
  escapedPath (): string {
    if (this.rawPath !== '' && isValidEncoded(this.rawPath)) return this.rawPath
    if (this.path === '*' || isPlainPath(this.path, this.path.length)) return this.path
    return escapePath(Buffer.from(this.path, 'utf8'))
  }

  /** URL.String(). */
  string (): string {
    let out = ''
    if (this.scheme !== '') out += this.scheme + ':'
    if (this.opaque !== '') {
      out += this.opaque
    } else {
      if (this.scheme !== '' || this.host !== '' || this.userinfo !== null) {
        if (!(this.omitHost && this.host === '' && this.userinfo === null)) {
          if (this.host !== '' || this.path !== '' || this.userinfo !== null) out += '//'
          if (this.userinfo !== null) out += this.userinfo + '@'
          out += this.host
        }
      }
      const path = this.escapedPath()
      if (path !== '' && path[0] !== '/' && this.host !== '') out += '/'
      if (out === '') {
        const slash = path.indexOf('/')
        if ((slash < 0 ? path : path.slice(0, slash)).includes(':')) out += './'
      }
      out += path
    }
    if (this.forceQuery || this.rawQuery !== '') out += '?' + this.rawQuery
    return fromWire(out)
  }

  /** URL.RequestURI(). */
  requestURI (): string {
    let result = this.opaque
    if (result === '') {
      result = this.escapedPath()
      if (result === '') result = '/'
    } else if (result.startsWith('//')) {
      result = this.scheme + ':' + result
    }
    if (this.forceQuery || this.rawQuery !== '') result += '?' + this.rawQuery
    return fromWire(result)
  }

  redacted (): string {
    if (this.userinfo === null || !this.userinfo.includes(':')) return this.string()
    const user = this.userinfo.slice(0, this.userinfo.indexOf(':'))
    return new GoURL(this.scheme, this.opaque, `${user}:xxxxx`, this.host, this.path, this.rawPath, this.omitHost, this.forceQuery, this.rawQuery).string()
  }
}

/** *url.Userinfo: Username(), Password() (and whether one was set), String(). */
class GoUserinfo implements GoObject {
  readonly goType = '*url.Userinfo'
  readonly #raw: string
  constructor (raw: string) { this.#raw = raw }

  goParams (name: string): readonly string[] | null {
    return name === 'Username' || name === 'String' ? NO_PARAMS : null
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (args.length > 0) throw new GoExecError(`wrong number of args for ${name}: want 0 got ${args.length}`)
    const colon = this.#raw.indexOf(':')
    switch (name) {
      case 'Username': return decodeWire(unescapeBytes(colon < 0 ? this.#raw : this.#raw.slice(0, colon), false) ?? Buffer.alloc(0))
      case 'String': return fromWire(this.#raw)
    }
    throw new GoExecError(`can't evaluate field ${name} in type *url.Userinfo`)
  }

  goPrint (): GoStringer { return new GoStringer(fromWire(this.#raw)) }
}

/**
 * url.ParseRequestURI as net/http's server applies it to a request target (plus its CONNECT
 * authority form). A target Go would refuse with 400 (a bad %-escape) keeps its raw path.
 */
export function parseRequestTarget (method: string, target: string): GoURL {
  if (method === 'CONNECT' && !target.startsWith('/')) {
    return new GoURL('', '', null, target, '', '', false, false, '')
  }
  if (target === '*') return new GoURL('', '', null, '', '*', '', false, false, '')
  // The common case: an origin-form target whose path Go would neither decode nor escape.
  if (target.charCodeAt(0) === 0x2f) {
    const q = target.indexOf('?')
    const end = q < 0 ? target.length : q
    if (isPlainPath(target, end)) {
      const forceQuery = q === target.length - 1
      return new GoURL('', '', null, '', target.slice(0, end), '', false, forceQuery, q < 0 || forceQuery ? '' : target.slice(q + 1))
    }
  }
  let scheme = ''
  let rest = target
  const colon = schemeEnd(target)
  if (colon > 0) {
    scheme = target.slice(0, colon).toLowerCase()
    rest = target.slice(colon + 1)
  }
  let forceQuery = false
  let rawQuery = ''
  const q = rest.indexOf('?')
  if (q === rest.length - 1 && q >= 0) {
    forceQuery = true
    rest = rest.slice(0, -1)
  } else if (q >= 0) {
    rawQuery = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  if (!rest.startsWith('/') && scheme !== '') return new GoURL(scheme, rest, null, '', '', '', false, forceQuery, rawQuery)
  let userinfo: string | null = null
  let host = ''
  let omitHost = false
  if (scheme !== '' && rest.startsWith('//')) {
    let authority = rest.slice(2)
    const slash = authority.indexOf('/')
    if (slash >= 0) { rest = authority.slice(slash); authority = authority.slice(0, slash) } else { rest = '' }
    const at = authority.lastIndexOf('@')
    if (at >= 0) { userinfo = authority.slice(0, at); authority = authority.slice(at + 1) }
    host = authority
  } else if (scheme !== '' && rest.startsWith('/')) {
    omitHost = true
  }
  const bytes = unescapeBytes(rest, false)
  if (bytes === null) return new GoURL(scheme, '', userinfo, host, fromWire(rest), '', omitHost, forceQuery, rawQuery)
  const rawPath = escapePath(bytes) === rest ? '' : rest
  return new GoURL(scheme, '', userinfo, host, decodeWire(bytes), rawPath, omitHost, forceQuery, rawQuery)
}

/** Index of the `:` ending a URL scheme (`http:`), or -1 (getScheme). */
function schemeEnd (s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const isLetter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    if (isLetter) continue
    if (i === 0) return -1
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) continue
    return c === 0x3a ? i : -1
  }
  return -1
}

/** url.QueryEscape. */
export function queryEscape (s: string): string {
  let plain = true
  for (let i = 0; i < s.length && plain; i++) plain = isUnreserved(s.charCodeAt(i))
  if (plain) return s
  const bytes = Buffer.from(s, 'utf8')
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0
    if (isUnreserved(b)) out += String.fromCharCode(b)
    else if (b === 0x20) out += '+'
    else out += '%' + HEX[b >> 4] + HEX[b & 15]
  }
  return out
}

/** Alphanumerics and `-_.~`: never escaped. */
function isUnreserved (c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x7e
}

/** shouldEscape(c, encodePath): everything but unreserved and `$&+,/:;=@`. */
function pathNeedsEscape (c: number): boolean {
  if (isUnreserved(c)) return false
  switch (c) {
    case 0x24: case 0x26: case 0x2b: case 0x2c: case 0x2f: case 0x3a: case 0x3b: case 0x3d: case 0x40:
      return false
    default:
      return true
  }
}

/** s[0, end) holds only bytes a path keeps as they are (no `%`, nothing escape() would change). */
function isPlainPath (s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    if (pathNeedsEscape(s.charCodeAt(i))) return false
  }
  return true
}

/** escape(path, encodePath) over the path's bytes; returns a wire string. */
function escapePath (bytes: Buffer): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0
    out += pathNeedsEscape(b) ? '%' + HEX[b >> 4] + HEX[b & 15] : String.fromCharCode(b)
  }
  return out
}

/** validEncoded(s, encodePath): only characters a path may hold as they are, or `%`. */
function isValidEncoded (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    switch (c) {
      case 0x21: case 0x24: case 0x26: case 0x27: case 0x28: case 0x29: case 0x2a: case 0x2b: case 0x2c:
      case 0x3b: case 0x3d: case 0x3a: case 0x40: case 0x5b: case 0x5d: case 0x25:
        continue
      default:
        if (pathNeedsEscape(c)) return false
    }
  }
  return true
}

/** %XX-decodes a wire string to bytes (`+` to space when `plus`); null on a bad escape. */
function unescapeBytes (s: string, plus: boolean): Buffer | null {
  const out = Buffer.allocUnsafe(s.length)
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25) {
      const hi = hexValue(s.charCodeAt(i + 1))
      const lo = hexValue(s.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return null
      out[n++] = hi * 16 + lo
      i += 2
    } else {
      out[n++] = plus && c === 0x2b ? 0x20 : c & 0xff
    }
  }
  return out.subarray(0, n)
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/** url.ParseQuery, errors dropped as Query() drops them. */
function parseQuery (rawQuery: string): GoStringMap {
  const m = new Map<string, string[]>()
  for (const part of rawQuery.split('&')) {
    if (part === '' || part.includes(';')) continue
    const eq = part.indexOf('=')
    const key = unescapeBytes(eq < 0 ? part : part.slice(0, eq), true)
    const value = unescapeBytes(eq < 0 ? '' : part.slice(eq + 1), true)
    if (key === null || value === null) continue
    const k = decodeWire(key)
    const list = m.get(k)
    if (list === undefined) m.set(k, [decodeWire(value)])
    else list.push(decodeWire(value))
  }
  return new GoStringMap('url.Values', m, false)
}

function splitHostPort (hostPort: string): [string, string] {
  let host = hostPort
  let port = ''
  const colon = hostPort.lastIndexOf(':')
  if (colon >= 0 && isOptionalPort(hostPort.slice(colon))) {
    host = hostPort.slice(0, colon)
    port = hostPort.slice(colon + 1)
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  return [host, port]
}

function isOptionalPort (p: string): boolean {
  if (p === '') return true
  if (p[0] !== ':') return false
  for (let i = 1; i < p.length; i++) {
    const c = p.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

/** Bytes to the Unicode text Go would print (UTF-8). */
function decodeWire (bytes: Buffer): string { return bytes.toString('utf8') }

import type { InboundRequest } from '../server/inbound.ts'
import { parseRequestTarget, type GoURL } from './go-url.ts'
import { canonicalHeaderKey, fromWire, GoExecError, GoNil, GoRecord, GoStringMap, NO_ARGS, NO_PARAMS, type GoObject, type GoValue } from './go-value.ts'
import { generateForwarded } from '../proxy/forwarded.ts'

// A client request as Go's net/http server hands it to a handler (*http.Request), for request-log
// templates: what Knative's queue-proxy template sees for the same bytes on the wire.
// - Header: canonical keys (`x-b3-traceid` -> `X-B3-Traceid`), values in arrival order. Go's HTTP/1
//   server moves Host to .Host and Transfer-Encoding to .TransferEncoding, drops a Content-Length a
//   chunked body overrides, drops `Connection` when it says close on HTTP/1.1, and adds
//   `Cache-Control: no-cache` beside `Pragma: no-cache`. HTTP/2 pseudo-headers are not headers.
// - Handlers inside Knative's request-log handler mutate the header map the log holds (Go's
//   r.WithContext copies share it), so the log sees their changes (`HeaderMutations`):
//   queue-proxy, for every proxied request: K-Original-Host deleted (RewriteHostOut) and the
//   Forwarded header its shim synthesises from X-Forwarded-*; the activator: K-Original-Host set
//   to the Host (RewriteHostIn) and `K-Proxy-Request: activator`.
// - RemoteAddr `ip:port` (`[ip]:port` for IPv6; an IPv4-mapped address prints as IPv4, as Go's
//   net.IP does), ContentLength (-1 when unknown), Proto `HTTP/1.1` / `HTTP/2.0`, URL (go-url.ts).
// Everything is computed when a template first asks for it; a template that never touches
// .Request.Header builds no header map.

/** Fields of http.Request a template can read, in declaration order (for %v of the struct). */
const REQUEST_FIELDS: readonly string[] = ['Method', 'URL', 'Proto', 'ProtoMajor', 'ProtoMinor', 'Header', 'ContentLength',
  'TransferEncoding', 'Close', 'Host', 'Form', 'PostForm', 'MultipartForm', 'Trailer', 'RemoteAddr', 'RequestURI', 'TLS',
  'Cancel', 'Response', 'Pattern']

/** What the handlers inside the log did to the header map (see the file comment). */
export const MUTATIONS_NONE = 0
export const MUTATIONS_QUEUE_PROXY = 1
export const MUTATIONS_ACTIVATOR = 2

const TWO_INTS: readonly string[] = Object.freeze(['int', 'int'])

// The nil pointers and channel of a server request (typed: Go names their types).
const NIL_MULTIPART_FORM = new GoNil('*multipart.Form', ['Value', 'File'])
const NIL_CANCEL = new GoNil('<-chan struct {}', [], { isChan: true })
const NIL_RESPONSE = new GoNil('*http.Response', ['Status', 'StatusCode', 'Proto', 'ProtoMajor', 'ProtoMinor', 'Header', 'Body', 'ContentLength',
  'TransferEncoding', 'Close', 'Uncompressed', 'Trailer', 'Request', 'TLS'])
const NIL_TLS = new GoNil('*tls.ConnectionState', ['Version', 'HandshakeComplete', 'DidResume', 'CipherSuite', 'CurveID', 'NegotiatedProtocol',
  'NegotiatedProtocolIsMutual', 'ServerName', 'PeerCertificates', 'VerifiedChains', 'SignedCertificateTimestamps', 'OCSPResponse', 'TLSUnique', 'ECHAccepted'])

const EMPTY_VALUES = new GoStringMap('url.Values', new Map(), false)
const EMPTY_HEADER = new GoStringMap('http.Header', new Map(), true)

export class GoHttpRequest implements GoObject {
  readonly goType = '*http.Request'
  readonly #req: InboundRequest
  /** MUTATIONS_*: the inner handlers the request went through. */
  readonly #mutations: number
  #header: GoStringMap | null
  #url: GoURL | null
  // First values of the headers read one at a time (Go's Header.Get), found in one pass over
  // rawHeaders when first needed; null = absent.
  #isIndexed: boolean
  #userAgent: string | null
  #referer: string | null
  #host: string | null
  #contentLength: string | null
  #transferEncoding: string | null
  #traceparent: string | null
  #b3TraceId: string | null
  #kubeletProbe: string | null
  #networkProbe: string | null

  constructor (req: InboundRequest, mutations: number) {
    this.#req = req
    this.#mutations = mutations
    this.#header = null
    this.#url = null
    this.#isIndexed = false
    this.#userAgent = null
    this.#referer = null
    this.#host = null
    this.#contentLength = null
    this.#transferEncoding = null
    this.#traceparent = null
    this.#b3TraceId = null
    this.#kubeletProbe = null
    this.#networkProbe = null
  }

  /** One pass over rawHeaders for the headers read by name (first value of each). */
  #index (): void {
    if (this.#isIndexed) return
    this.#isIndexed = true
    const raw = this.#req.rawHeaders
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] ?? ''
      // The length picks the candidates: most headers are compared with none.
      switch (name.length) {
        case 4: if (this.#host === null && equalsLower(name, 'host')) this.#host = raw[i + 1] ?? ''; break
        case 7: if (this.#referer === null && equalsLower(name, 'referer')) this.#referer = raw[i + 1] ?? ''; break
        case 10: if (this.#userAgent === null && equalsLower(name, 'user-agent')) this.#userAgent = raw[i + 1] ?? ''; break
        case 11: if (this.#traceparent === null && equalsLower(name, 'traceparent')) this.#traceparent = raw[i + 1] ?? ''; break
        case 12: if (this.#b3TraceId === null && equalsLower(name, 'x-b3-traceid')) this.#b3TraceId = raw[i + 1] ?? ''; break
        case 14: if (this.#contentLength === null && equalsLower(name, 'content-length')) this.#contentLength = raw[i + 1] ?? ''; break
        case 15:
          if (this.#kubeletProbe === null && equalsLower(name, 'k-kubelet-probe')) this.#kubeletProbe = raw[i + 1] ?? ''
          else if (this.#networkProbe === null && equalsLower(name, 'k-network-probe')) this.#networkProbe = raw[i + 1] ?? ''
          break
        case 17: if (this.#transferEncoding === null && equalsLower(name, 'transfer-encoding')) this.#transferEncoding = raw[i + 1] ?? ''; break
      }
    }
  }

  /** Header.Get("User-Agent"), as sent (a wire string). */
  get userAgent (): string { this.#index(); return this.#userAgent ?? '' }

  /** Knative's header.IsProbe: a kubelet probe (User-Agent kube-probe/…, K-Kubelet-Probe) or any K-Network-Probe. */
  get isProbe (): boolean {
    this.#index()
    return (this.#userAgent ?? '').startsWith('kube-probe/') || (this.#kubeletProbe ?? '') !== '' || (this.#networkProbe ?? '') !== ''
  }

  /** Knative's ExtractTraceID: traceparent's second field, else X-B3-TraceId. */
  get traceId (): string {
    this.#index()
    const tp = this.#traceparent ?? ''
    if (tp !== '') {
      const dash = tp.indexOf('-')
      if (dash >= 0) {
        const next = tp.indexOf('-', dash + 1)
        return fromWire(next < 0 ? tp.slice(dash + 1) : tp.slice(dash + 1, next))
      }
    }
    return fromWire(this.#b3TraceId ?? '')
  }

  get #isH2 (): boolean { return this.#req.httpVersionMajor === 2 }

  goParams (name: string): readonly string[] | null {
    switch (name) {
      case 'ProtoAtLeast': return TWO_INTS
      case 'UserAgent': case 'Referer': return NO_PARAMS
    }
    return null
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (name === 'ProtoAtLeast') return this.#protoAtLeast(args)
    if (args.length > 0) {
      if (REQUEST_FIELDS.includes(name)) throw new GoExecError(`${name} has arguments but cannot be invoked as function`)
      throw new GoExecError(`wrong number of args for ${name}: want 0 got ${args.length}`)
    }
    const req = this.#req
    switch (name) {
      case 'Method': return fromWire(req.method ?? 'GET')
      case 'URL': return this.url()
      case 'Proto': return this.#isH2 ? 'HTTP/2.0' : `HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}`
      case 'ProtoMajor': return BigInt(req.httpVersionMajor)
      case 'ProtoMinor': return this.#isH2 ? 0n : BigInt(req.httpVersionMinor)
      case 'Header': return this.header()
      case 'ContentLength': return BigInt(this.contentLength())
      case 'TransferEncoding': return this.#isChunked() ? ['chunked'] : []
      case 'Close': return this.#shouldClose()
      case 'Host': return this.host()
      case 'Form': case 'PostForm': return EMPTY_VALUES
      case 'Trailer': return EMPTY_HEADER
      case 'MultipartForm': return NIL_MULTIPART_FORM
      case 'Cancel': return NIL_CANCEL
      case 'Response': return NIL_RESPONSE
      case 'RemoteAddr': return this.remoteAddr()
      case 'RequestURI': return fromWire(req.url ?? '/')
      case 'TLS': return tlsState(req)
      case 'Pattern': return ''
      case 'UserAgent': return fromWire(this.userAgent)
      case 'Referer': this.#index(); return fromWire(this.#referer ?? '')
    }
    throw new GoExecError(`can't evaluate field ${name} in type *http.Request`)
  }

  goPrint (): readonly GoValue[] {
    return REQUEST_FIELDS.map((f) => this.goLookup(f, NO_ARGS))
  }

  goFieldNames (): readonly string[] { return REQUEST_FIELDS }

  #protoAtLeast (args: readonly GoValue[]): GoValue {
    const [major, minor] = args
    if (args.length !== 2 || typeof major !== 'bigint' || typeof minor !== 'bigint') throw new GoExecError('wrong arguments for ProtoAtLeast: want (int, int)')
    const m = BigInt(this.#req.httpVersionMajor)
    const n = this.#isH2 ? 0n : BigInt(this.#req.httpVersionMinor)
    return m > major || (m === major && n >= minor)
  }

  url (): GoURL {
    if (this.#url === null) this.#url = parseRequestTarget(this.#req.method ?? 'GET', this.#req.url ?? '/')
    return this.#url
  }

  host (): string {
    const req = this.#req
    if (this.#isH2) {
      const authority = req.headers[':authority']
      return fromWire(typeof authority === 'string' ? authority : req.headers.host ?? '')
    }
    const urlHost = this.url().host
    this.#index()
    return fromWire(urlHost !== '' ? urlHost : this.#host ?? '')
  }

  /** Go's RemoteAddr: `ip:port`, `[ip]:port` for IPv6. */
  remoteAddr (): string {
    const socket = this.#req.socket
    let addr = socket.remoteAddress ?? ''
    const port = socket.remotePort ?? 0
    if (addr.startsWith('::ffff:') && addr.includes('.')) addr = addr.slice(7)
    return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`
  }

  /** Go's Request.ContentLength. */
  contentLength (): number {
    this.#index()
    const cl = this.#contentLength
    if (this.#isH2) {
      if (!hasOpenBody(this.#req)) return 0
      if (cl === null) return -1
      return isDigits(cl) ? Number(cl) : 0
    }
    if (this.#isChunked()) return -1
    if (cl !== null) {
      const v = cl.trim()
      if (isDigits(v)) return Number(v)
    }
    return 0
  }

  /** HTTP/1.1 `Transfer-Encoding: chunked` (Go ignores the header on HTTP/1.0). */
  #isChunked (): boolean {
    const req = this.#req
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return false
    this.#index()
    const te = this.#transferEncoding
    return te !== null && te.trim().toLowerCase() === 'chunked'
  }

  /** Go's shouldClose for a request. */
  #shouldClose (): boolean {
    const req = this.#req
    if (this.#isH2) return false
    const connection = allHeaderValues(req.rawHeaders, 'connection')
    const hasClose = hasToken(connection, 'close')
    if (req.httpVersionMinor === 0) return hasClose || !hasToken(connection, 'keep-alive')
    return hasClose
  }

  /** Go's http.Header for this request (built on first use). */
  header (): GoStringMap {
    if (this.#header === null) this.#header = this.#buildHeader()
    return this.#header
  }

  #buildHeader (): GoStringMap {
    const req = this.#req
    const raw = req.rawHeaders
    const h2 = this.#isH2
    const m = new Map<string, string[]>()
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] ?? ''
      if (name.startsWith(':')) continue // HTTP/2 pseudo-header
      const key = canonicalHeaderKey(name)
      if (key === 'Host' || (!h2 && key === 'Transfer-Encoding')) continue
      const value = fromWire(raw[i + 1] ?? '')
      const list = m.get(key)
      if (list === undefined) m.set(key, [value])
      else list.push(value)
    }
    if (!h2) {
      const cl = m.get('Content-Length')
      if (cl !== undefined && (this.#isChunked() || (cl[0] ?? '').trim() === '')) m.delete('Content-Length')
      else if (cl !== undefined && cl.length > 1) m.set('Content-Length', [(cl[0] ?? '').trim()])
      if (req.httpVersionMinor >= 1 && hasToken(m.get('Connection') ?? [], 'close')) m.delete('Connection')
      if (m.get('Pragma')?.[0] === 'no-cache' && !m.has('Cache-Control')) m.set('Cache-Control', ['no-cache'])
    } else {
      const cookies = m.get('Cookie')
      if (cookies !== undefined && cookies.length > 1) m.set('Cookie', [cookies.join('; ')])
    }
    if (this.#mutations === MUTATIONS_QUEUE_PROXY) {
      if ((m.get('K-Original-Host')?.[0] ?? '') !== '') m.delete('K-Original-Host')
      if ((m.get('Forwarded')?.[0] ?? '') === '') {
        const xff = m.get('X-Forwarded-For')?.[0] ?? ''
        const xfp = m.get('X-Forwarded-Proto')?.[0] ?? ''
        const xfh = m.get('X-Forwarded-Host')?.[0] ?? ''
        if (xff !== '' || xfp !== '' || xfh !== '') m.set('Forwarded', [generateForwarded(xff, xfp, xfh)])
      }
    } else if (this.#mutations === MUTATIONS_ACTIVATOR) {
      if ((m.get('K-Original-Host')?.[0] ?? '') === '') m.set('K-Original-Host', [this.host()])
      m.set('K-Proxy-Request', ['activator'])
    }
    return new GoStringMap('http.Header', m, true)
  }
}

function allHeaderValues (raw: readonly string[], lowerName: string): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (equalsLower(raw[i] ?? '', lowerName)) out.push(raw[i + 1] ?? '')
  }
  return out
}

/** ASCII case-insensitive `name === lowerName`, without allocating. */
function equalsLower (name: string, lowerName: string): boolean {
  if (name.length !== lowerName.length) return false
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i)
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== lowerName.charCodeAt(i)) return false
  }
  return true
}

/** httpguts.HeaderValuesContainsToken: comma-separated, case-insensitive. */
function hasToken (values: readonly string[], token: string): boolean {
  for (const v of values) {
    for (const part of v.split(',')) {
      if (part.trim().toLowerCase() === token) return true
    }
  }
  return false
}

function isDigits (s: string): boolean {
  if (s === '') return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
  }
  return true
}

/** HTTP/2: the HEADERS frame did not end the stream (Node: stream.endAfterHeaders false). */
function hasOpenBody (req: InboundRequest): boolean {
  const r: object = req
  if (!('stream' in r)) return !(req.method === 'GET' || req.method === 'HEAD')
  const stream = r.stream
  if (typeof stream !== 'object' || stream === null || !('endAfterHeaders' in stream)) return true
  return stream.endAfterHeaders !== true
}

/** *tls.ConnectionState: nil on a plain connection; the fields Node knows on a TLS one. */
function tlsState (req: InboundRequest): GoValue {
  const socket: object = req.socket
  if (!('encrypted' in socket) || socket.encrypted !== true) return NIL_TLS
  let version = 0n
  if ('getProtocol' in socket && typeof socket.getProtocol === 'function') {
    const p: unknown = socket.getProtocol()
    version = p === 'TLSv1.3' ? 0x0304n : p === 'TLSv1.2' ? 0x0303n : 0n
  }
  const serverName = 'servername' in socket && typeof socket.servername === 'string' ? socket.servername : ''
  const alpn = 'alpnProtocol' in socket && typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : ''
  return new GoRecord('*tls.ConnectionState', {
    Version: version,
    HandshakeComplete: true,
    NegotiatedProtocol: alpn,
    ServerName: serverName,
  })
}

// The header rewrite rules, on buildUpstreamHeaders/buildResponseHeaders directly. The reference:
// Go's httputil.ReverseProxy (hop-by-hop fields, fields named in Connection, Upgrade kept for an
// upgrade, "Te: trailers" kept, X-Forwarded-For appended), Knative's queue-proxy
// (NewHeaderPruningReverseProxy drops activator.RevisionHeaders; K-Original-Host replaces Host
// and is dropped: pkg/queue/handler_test.go TestHandlerReqEvent) and the Forwarded shim.
import t from 'tap'
import { buildResponseHeaders, buildUpstreamHeaders, type HeaderRewriteOptions } from '../../src/proxy/request-headers.ts'

const PLAIN: HeaderRewriteOptions = { clientAddress: null, isUpgrade: false, extra: null, drop: null }

function opts (over: Partial<HeaderRewriteOptions>): HeaderRewriteOptions {
  return { ...PLAIN, ...over }
}

/** The flat list as [name, value] pairs, for readable comparisons. */
function pairs (flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] ?? '', flat[i + 1] ?? ''])
  return out
}

const cases: Array<{ name: string, raw: string[], opts?: Partial<HeaderRewriteOptions>, host?: string, want: Array<[string, string]> }> = [
  {
    name: 'end-to-end fields pass unchanged, with their case, order and duplicates',
    raw: ['Host', 'a.example', 'Accept', 'text/html', 'X-Custom', '1', 'x-custom', '2', 'Cookie', 'a=1'],
    want: [['Host', 'a.example'], ['Accept', 'text/html'], ['X-Custom', '1'], ['x-custom', '2'], ['Cookie', 'a=1']],
  },
  {
    name: 'hop-by-hop fields are dropped (RFC 9110 7.6.1, Go\'s hopHeaders)',
    raw: ['Host', 'h', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'keep-alive',
      'Proxy-Authenticate', 'Basic', 'Proxy-Authorization', 'Basic eA==', 'TE', 'gzip', 'Trailer', 'X-T',
      'Transfer-Encoding', 'chunked', 'Upgrade', 'websocket', 'Accept', '*/*'],
    want: [['Host', 'h'], ['Accept', '*/*']],
  },
  {
    name: 'fields named in Connection are dropped, across several Connection fields and in any case',
    raw: ['Host', 'h', 'Connection', 'X-A, close', 'X-A', '1', 'x-b', '2', 'CONNECTION', ' x-B ,keep-alive', 'X-C', '3'],
    want: [['Host', 'h'], ['X-C', '3']],
  },
  {
    // Go keeps the host apart from the header map (r.Host), so Connection cannot remove it there;
    // dropping it here would send undici's default, the upstream's own address.
    name: 'Connection naming Host does not remove Host (Go keeps it in r.Host, out of the header map)',
    raw: ['Accept', '*/*', 'Host', 'h', 'Connection', 'host, x-a', 'X-A', '1'],
    want: [['Accept', '*/*'], ['Host', 'h']],
  },
  {
    name: 'Connection naming a field before Host: Host is still the one rewritten afterwards',
    raw: ['X-A', '1', 'Host', 'h', 'K-Original-Host', 'orig.example', 'Connection', 'x-a'],
    want: [['Host', 'orig.example']],
  },
  {
    name: 'TE naming trailers becomes TE: trailers (gRPC), as Go\'s HeaderValuesContainsToken',
    raw: ['Host', 'h', 'TE', ' Trailers '],
    want: [['Host', 'h'], ['TE', 'trailers']],
  },
  {
    name: 'TE: trailers among other codings, or in a second TE field, is sent once as TE: trailers',
    raw: ['te', 'gzip', 'Host', 'h', 'TE', 'deflate, trailers', 'TE', 'trailers'],
    want: [['Host', 'h'], ['TE', 'trailers']],
  },
  {
    name: 'Knative\'s revision routing headers are dropped (activator.RevisionHeaders)',
    raw: ['Host', 'h', 'Knative-Serving-Revision', 'r-1', 'knative-serving-namespace', 'ns', 'X-A', '1'],
    want: [['Host', 'h'], ['X-A', '1']],
  },
  {
    name: 'K-Original-Host replaces Host and is dropped (Knative TestHandlerReqEvent)',
    raw: ['Host', 'nimporte.pas', 'K-Original-Host', 'example.com', 'Accept', '*/*'],
    want: [['Host', 'example.com'], ['Accept', '*/*']],
  },
  {
    name: 'K-Original-Host without a Host field adds one',
    raw: ['K-Original-Host', 'example.com'],
    want: [['host', 'example.com']],
  },
  {
    name: 'an empty K-Original-Host changes nothing',
    raw: ['Host', 'h', 'K-Original-Host', ''],
    want: [['Host', 'h']],
  },
  {
    name: 'only the first Host is sent',
    raw: ['Host', 'first', 'Host', 'second'],
    want: [['Host', 'first']],
  },
  {
    name: 'an absolute-form target\'s authority replaces Host',
    raw: ['Host', 'ignored', 'X-A', '1'],
    host: 'target.example:8080',
    want: [['Host', 'target.example:8080'], ['X-A', '1']],
  },
  {
    name: 'an absolute-form target\'s authority is added when there is no Host, and K-Original-Host still wins',
    raw: ['K-Original-Host', 'orig.example'],
    host: 'target.example',
    want: [['host', 'orig.example']],
  },
  {
    name: 'HTTP/2 pseudo-headers are dropped and :authority becomes Host',
    raw: [':method', 'GET', ':scheme', 'http', ':authority', 'h2.example', ':path', '/', 'Host', 'other', 'accept', '*/*'],
    want: [['host', 'h2.example'], ['accept', '*/*']],
  },
  {
    name: 'Expect is dropped (the server already answered 100 Continue)',
    raw: ['Host', 'h', 'Expect', '100-continue', 'Content-Length', '3'],
    want: [['Host', 'h'], ['Content-Length', '3']],
  },
  {
    name: 'an upgrade keeps Upgrade and sends Connection: upgrade, without the other Connection tokens',
    raw: ['Host', 'h', 'Connection', 'Upgrade, X-Hop', 'Upgrade', 'websocket', 'X-Hop', '1', 'Sec-WebSocket-Key', 'k'],
    opts: { isUpgrade: true },
    want: [['Host', 'h'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'k'], ['connection', 'upgrade']],
  },
  {
    name: 'the client address is appended to X-Forwarded-For (several fields joined, as Go does)',
    raw: ['Host', 'h', 'X-Forwarded-For', '1.1.1.1', 'X-Forwarded-For', '2.2.2.2', 'Forwarded', 'for=a'],
    opts: { clientAddress: '10.0.0.9' },
    want: [['Host', 'h'], ['Forwarded', 'for=a'], ['x-forwarded-for', '1.1.1.1, 2.2.2.2, 10.0.0.9']],
  },
  {
    name: 'X-Forwarded-For is created from the client address',
    raw: ['Host', 'h'],
    opts: { clientAddress: '::1' },
    want: [['Host', 'h'], ['x-forwarded-for', '::1']],
  },
  {
    name: 'without a client address X-Forwarded-For passes as sent (joined)',
    raw: ['X-Forwarded-For', '1.1.1.1', 'Forwarded', 'for=a', 'X-Forwarded-For', '2.2.2.2'],
    want: [['Forwarded', 'for=a'], ['x-forwarded-for', '1.1.1.1, 2.2.2.2']],
  },
  {
    name: 'no Forwarded: the shim builds one from the client\'s X-Forwarded-* (not from the appended address)',
    raw: ['Host', 'h', 'X-Forwarded-For', '127.0.0.1, ::1', 'X-Forwarded-Proto', 'p', 'X-Forwarded-Host', 'xh'],
    opts: { clientAddress: '10.0.0.9' },
    want: [['Host', 'h'], ['X-Forwarded-Proto', 'p'], ['X-Forwarded-Host', 'xh'],
      ['forwarded', 'for=127.0.0.1;host=xh;proto=p, for="[::1]"'], ['x-forwarded-for', '127.0.0.1, ::1, 10.0.0.9']],
  },
  {
    name: 'the shim takes the first X-Forwarded-Proto and -Host',
    raw: ['X-Forwarded-Proto', 'https', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'a', 'X-Forwarded-Host', 'b'],
    want: [['X-Forwarded-Proto', 'https'], ['X-Forwarded-Proto', 'http'], ['X-Forwarded-Host', 'a'], ['X-Forwarded-Host', 'b'],
      ['forwarded', 'host=a;proto=https']],
  },
  {
    name: 'an existing Forwarded is kept and no shim is added (Knative "existing fwd")',
    raw: ['Forwarded', 'for=a, for=b', 'X-Forwarded-Proto', 'p'],
    want: [['Forwarded', 'for=a, for=b'], ['X-Forwarded-Proto', 'p']],
  },
  {
    name: 'no X-Forwarded-* headers: no Forwarded either (Knative "no xf* headers")',
    raw: ['Host', 'h', 'X-Forwarded-For', ''],
    want: [['Host', 'h'], ['x-forwarded-for', '']],
  },
  {
    name: 'extra fields are appended and the caller\'s drop set applies (the activator\'s own headers)',
    raw: ['Host', 'h', 'K-Proxy-Request', 'spoofed', 'X-A', '1'],
    opts: { extra: ['K-Proxy-Request', 'activator'], drop: new Set(['k-proxy-request']) },
    want: [['Host', 'h'], ['X-A', '1'], ['K-Proxy-Request', 'activator']],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(pairs(buildUpstreamHeaders(c.raw, opts(c.opts ?? {}), c.host ?? null)), c.want)
  })
}

t.test('TE without the trailers token is dropped', async (t) => {
  for (const te of ['gzip', 'deflate, gzip', 'trailers;q=1', 'x-trailers', '']) {
    t.same(pairs(buildUpstreamHeaders(['TE', te], PLAIN)), [], JSON.stringify(te))
  }
})

t.test('a Connection field listing thousands of names costs one pass (no names x fields loop)', async (t) => {
  // A 64 KiB head fits ~8,000 names and ~4,000 fields; the quadratic version took seconds.
  const names: string[] = []
  const raw: string[] = []
  for (let i = 0; i < 8_000; i++) names.push(`x-n${i}`)
  for (let i = 0; i < 4_000; i++) raw.push(`X-F${i}`, 'v')
  raw.push('Connection', names.join(','))
  raw.push('X-N7', 'listed')
  const out = pairs(buildUpstreamHeaders(raw, PLAIN))
  t.equal(out.length, 4_000 - 0, 'the unlisted fields stay')
  t.notOk(out.some(([n]) => n === 'X-N7'), 'the listed one goes')
})

t.test('response headers: hop-by-hop and Connection-listed fields are dropped, arrays are split', async (t) => {
  const out = buildResponseHeaders({
    'content-type': 'text/plain',
    connection: 'keep-alive, x-hop',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'proxy-connection': 'close',
    upgrade: 'h2c',
    te: 'trailers',
    trailer: 'x-t',
    'proxy-authenticate': 'Basic',
    'x-hop': 'gone',
    'set-cookie': ['a=1', 'b=2'],
    'x-missing': undefined,
    'www-authenticate': 'Basic',
  }, null, '')
  t.same(pairs(out), [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['www-authenticate', 'Basic']])
})

t.test('response headers: a Connection array, and the extra field (Server-Timing) last', async (t) => {
  const out = buildResponseHeaders({ connection: ['close', 'x-a'], 'x-a': '1', 'x-b': '2' }, 'server-timing', 'queue;dur=1')
  t.same(pairs(out), [['x-b', '2'], ['server-timing', 'queue;dur=1']])
})

t.test('response headers: Connection with only options (close, keep-alive, upgrade) drops nothing else', async (t) => {
  const out = buildResponseHeaders({ connection: 'close, keep-alive, upgrade, ', 'x-a': '1' }, null, '')
  t.same(pairs(out), [['x-a', '1']])
})

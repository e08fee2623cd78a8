import t from 'tap'
import { GoHttpRequest, MUTATIONS_ACTIVATOR, MUTATIONS_NONE, MUTATIONS_QUEUE_PROXY } from '../../src/go/go-http-request.ts'
import { compileGoTemplate } from '../../src/go/go-template.ts'
import { GoRecord } from '../../src/go/go-value.ts'
import { inbound, type Wire } from '../helpers/inbound-request.ts'

// What Go's net/http server puts in *http.Request for the same request on the wire (server.go
// readRequest, transfer.go, url.ParseRequestURI, h2 server), as a template prints it.

/** Renders `src` with `.` = the request. */
function show (src: string, w: Wire, mutations = MUTATIONS_NONE): string {
  return compileGoTemplate(src).render(new GoRecord('*T', { R: new GoHttpRequest(inbound(w), mutations) }))
}

/** Latin1 wire form of UTF-8 text, as Node decodes header and URL bytes. */
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')

t.test('URL: url.ParseRequestURI and URL.String() of request targets', async (t) => {
  const cases: Array<[string, string, string]> = [
    // target, {{.R.URL}}, Path|RawPath|RawQuery|EscapedPath
    ['/page?x=1', '/page?x=1', '/page||x=1|/page'],
    ['/a%2Fb?q', '/a%2Fb?q', '/a/b|/a%2Fb|q|/a%2Fb'], // RawPath keeps an escaping Go would not choose
    ['/%7E', '/%7E', '/~|/%7E||/%7E'],
    ['/a"b{c}', '/a%22b%7Bc%7D', '/a"b{c}|/a"b{c}||/a%22b%7Bc%7D'], // bytes a path may not hold are escaped
    [wire('/é'), '/%C3%A9', '/é|/é||/%C3%A9'],
    ['/p?', '/p?', '/p|||/p'], // ForceQuery
    ['/a+b;c=d@e:f$g,h&i', '/a+b;c=d@e:f$g,h&i', '/a+b;c=d@e:f$g,h&i|||/a+b;c=d@e:f$g,h&i'],
    ['http://example.com/testpage', 'http://example.com/testpage', '/testpage|||/testpage'],
    ['*', '*', '*|||*'],
  ]
  for (const [target, str, parts] of cases) {
    t.equal(show('{{.R.URL}}', { url: target }), str, `String ${target}`)
    t.equal(show('{{.R.URL.Path}}|{{.R.URL.RawPath}}|{{.R.URL.RawQuery}}|{{.R.URL.EscapedPath}}', { url: target }), parts, `fields ${target}`)
  }
  t.equal(show('{{.R.URL.Query}}', { url: '/x?a=1&b=%20+2&a=3&;bad&=e' }), 'map[:[e] a:[1 3] b:[  2]]', 'Query(): url.ParseQuery')
  t.equal(show('{{.R.URL.Scheme}} {{.R.URL.Host}} {{.R.URL.Hostname}} {{.R.URL.Port}} {{.R.URL.IsAbs}} {{.R.Host}}', { url: 'http://example.com:8080/x' }), 'http example.com:8080 example.com 8080 true example.com:8080')
  t.equal(show('{{.R.URL.RequestURI}}', { url: '/a%2Fb?q=1' }), '/a%2Fb?q=1')
  t.equal(show('{{.R.URL}}', { method: 'CONNECT', url: 'example.com:443' }), '//example.com:443', 'CONNECT authority form')
  t.equal(show('{{.R.URL.User}} {{.R.URL.Fragment}}|', { url: '/x' }), ' |', 'a nil *url.Userinfo prints through its String method: "" (golden: Go prints the same)')
})

t.test('Header, ContentLength, TransferEncoding, Close as Go\'s HTTP/1 server sets them', async (t) => {
  const w: Wire = {
    method: 'POST',
    url: '/',
    raw: ['Host', 'example.com', 'x-b3-traceid', 'abc', 'Accept', 'a', 'accept', 'b', 'Transfer-Encoding', 'chunked', 'content-length', '4',
      'Connection', 'close', 'Pragma', 'no-cache', 'user-agent', 'curl/8', 'Referer', 'http://r/'],
  }
  t.equal(show('{{.R.Header}}', w), 'map[Accept:[a b] Cache-Control:[no-cache] Pragma:[no-cache] Referer:[http://r/] User-Agent:[curl/8] X-B3-Traceid:[abc]]',
    'canonical keys; Host, Transfer-Encoding, the overridden Content-Length and Connection: close are not headers; Pragma adds Cache-Control')
  t.equal(show('{{.R.ContentLength}} {{.R.TransferEncoding}} {{.R.Close}} {{.R.Host}} {{.R.UserAgent}} {{.R.Referer}} {{.R.Proto}} {{.R.ProtoMajor}}{{.R.ProtoMinor}}', w),
    '-1 [chunked] true example.com curl/8 http://r/ HTTP/1.1 11')
  t.equal(show('{{.R.ContentLength}} {{.R.TransferEncoding}} {{index .R.Header "Content-Length"}}', { method: 'POST', url: '/', raw: ['Content-Length', '12'] }), '12 [] [12]')
  t.equal(show('{{.R.ContentLength}}', { url: '/' }), '0', 'no body declared: 0')
  t.equal(show('{{.R.Close}} {{.R.Proto}}', { url: '/', version: [1, 0] }), 'true HTTP/1.0', 'HTTP/1.0 closes unless keep-alive')
  t.equal(show('{{.R.Close}}', { url: '/', version: [1, 0], raw: ['Connection', 'Keep-Alive'] }), 'false')
  t.equal(show('{{.R.Header.Get "x-b3-traceid"}}|{{.R.Header.Get "missing"}}|{{index .R.Header "Missing"}}', w), 'abc||[]')
  t.equal(show('{{.R.UserAgent}}', { url: '/', raw: ['User-Agent', wire('héllo')] }), 'héllo', 'wire bytes are UTF-8 text')
  t.equal(show('{{.R.ProtoAtLeast 1 1}} {{.R.ProtoAtLeast 2 0}}', w), 'true false')
  t.equal(show('{{.R.Form}} {{.R.Trailer}} {{.R.MultipartForm}} {{.R.TLS}} {{.R.Response}} {{.R.Pattern}}|', w), 'map[] map[] <nil> <nil> <nil> |')
})

t.test('the header map after the handlers inside the log: queue-proxy\'s and the activator\'s', async (t) => {
  const w: Wire = { url: '/', raw: ['Host', 'app.example', 'K-Original-Host', 'orig.example', 'X-Forwarded-For', '1.2.3.4, 2001:db8::1', 'X-Forwarded-Proto', 'https'] }
  t.equal(show('{{.R.Header}}', w, MUTATIONS_QUEUE_PROXY), 'map[Forwarded:[for=1.2.3.4;proto=https, for="[2001:db8::1]"] X-Forwarded-For:[1.2.3.4, 2001:db8::1] X-Forwarded-Proto:[https]]',
    'queue-proxy: RewriteHostOut deletes K-Original-Host, the Forwarded shim adds Forwarded')
  t.equal(show('{{.R.Header}}', w, MUTATIONS_NONE), 'map[K-Original-Host:[orig.example] X-Forwarded-For:[1.2.3.4, 2001:db8::1] X-Forwarded-Proto:[https]]', 'a probe the drainer answered: untouched')
  t.equal(show('{{index .R.Header "Forwarded"}}', { url: '/', raw: ['Forwarded', 'for=x', 'X-Forwarded-For', '1.1.1.1'] }, MUTATIONS_QUEUE_PROXY), '[for=x]', 'an existing Forwarded is kept')
  t.equal(show('{{.R.Header}} {{.R.Host}}', { url: '/', raw: ['Host', 'app.example', 'Accept', '*/*'] }, MUTATIONS_ACTIVATOR), 'map[Accept:[*/*] K-Original-Host:[app.example] K-Proxy-Request:[activator]] app.example',
    'activator: RewriteHostIn sets K-Original-Host, and K-Proxy-Request is set; .Host is unchanged (a copy was rewritten)')
  t.equal(show('{{index .R.Header "K-Original-Host"}}', w, MUTATIONS_ACTIVATOR), '[orig.example]', 'an existing K-Original-Host is kept')
})

t.test('RemoteAddr as Go prints net.TCPAddr', async (t) => {
  t.equal(show('{{.R.RemoteAddr}}', { url: '/', remote: ['10.1.2.3', 5] }), '10.1.2.3:5')
  t.equal(show('{{.R.RemoteAddr}}', { url: '/', remote: ['::ffff:10.1.2.3', 5] }), '10.1.2.3:5', 'IPv4-mapped prints as IPv4')
  t.equal(show('{{.R.RemoteAddr}}', { url: '/', remote: ['::1', 40000] }), '[::1]:40000')
})

t.test('HTTP/2: pseudo-headers, :authority, cookies joined, ContentLength from END_STREAM', async (t) => {
  const raw = [':method', 'POST', ':path', '/x?y=1', ':authority', 'example.com', ':scheme', 'http', 'cookie', 'a=1', 'cookie', 'b=2']
  const open: Wire = { method: 'POST', url: '/x?y=1', raw, version: [2, 0], stream: { endAfterHeaders: false } }
  t.equal(show('{{.R.Header}} {{.R.Proto}} {{.R.Host}} {{.R.ContentLength}} {{.R.Close}} {{.R.RequestURI}}', open), 'map[Cookie:[a=1; b=2]] HTTP/2.0 example.com -1 false /x?y=1')
  t.equal(show('{{.R.ContentLength}}', { ...open, raw: [...raw, 'content-length', '7'] }), '7')
  t.equal(show('{{.R.ContentLength}}', { ...open, stream: { endAfterHeaders: true } }), '0')
})

t.test('TLS: nil on a plain connection, the connection state on a TLS one', async (t) => {
  const socket = { remoteAddress: '10.0.0.1', remotePort: 1, encrypted: true, servername: 'app.example', alpnProtocol: 'h2', getProtocol: () => 'TLSv1.3' }
  t.equal(show('{{.R.TLS.ServerName}} {{.R.TLS.NegotiatedProtocol}} {{.R.TLS.Version}} {{.R.TLS.HandshakeComplete}}', { url: '/', socket }), 'app.example h2 772 true')
  t.throws(() => show('{{.R.TLS.ServerName}}', { url: '/' }), /nil pointer/, 'a field of a nil pointer fails, as in Go')
})

// One scenario: parsing the HTTP/1.1 messages of the proxy's hot path (a request head with the
// fields a browser or a Knative ingress sends, a chunked upload with an extension and a trailer;
// a sized response head, a chunked response) with H1RequestParser and H1ResponseParser. The
// alternatives are two source trees: this one, and another given with --src (e.g. the tree before
// a parser change, `git archive <commit> src | tar -x -C /tmp/before`), each run in its own
// child process.
//
//   npx node loadtest/micro/h1-parsers.bench.ts [--src /tmp/before/src]   # table: this tree (and --src)
//   npx node loadtest/micro/h1-parsers.bench.ts --one <srcDir>             # one tree, one JSON line

import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, resolve } from 'node:path'

const MESSAGES_PER_ROUND = 400_000
const ROUNDS = 7

const REQUEST_GET = Buffer.from(
  'GET /api/v1/items?page=2&sort=desc HTTP/1.1\r\n' +
  'Host: hello.default.svc.cluster.local\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
  'Accept: application/json, text/plain, */*\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Connection: keep-alive\r\n' +
  'Cookie: session=abc123def456; theme=dark\r\n' +
  'X-Forwarded-For: 10.0.0.1\r\n' +
  'X-Forwarded-Proto: https\r\n' +
  'X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n' +
  'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n' +
  '\r\n', 'latin1')

const REQUEST_CHUNKED = Buffer.from(
  'POST /upload HTTP/1.1\r\nHost: hello.default.svc.cluster.local\r\nContent-Type: application/octet-stream\r\n' +
  'Transfer-Encoding: chunked\r\n\r\n' +
  '10;part=1\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n8\r\n01234567\r\n0\r\nX-Checksum: abc\r\n\r\n', 'latin1')

const RESPONSE_SIZED = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 27\r\n' +
  'Date: Sun, 06 Dec 2026 11:00:00 GMT\r\nCache-Control: no-store\r\nVary: Accept-Encoding\r\n' +
  'X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\nServer: app\r\n\r\n' +
  '{"items":[1,2,3],"page":2}\n', 'latin1')

const RESPONSE_CHUNKED = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\ngrpc-status: 0\r\n\r\n', 'latin1')

interface Result { src: string, requestGetNs: number, requestChunkedNs: number, responseSizedNs: number, responseChunkedNs: number }

interface RequestParserLike { execute (buf: Buffer, off: number, len: number): number, reset (): void }
interface ResponseParserLike { execute (buf: Buffer, len: number): number, reset (isHead: boolean): void }
interface RequestModule { H1RequestParser: new (sink: object, maxHeadBytes: number) => RequestParserLike, PARSE_DONE: number }
interface ResponseModule { H1ResponseParser: new (sink: object, maxHeadBytes: number) => ResponseParserLike, PARSE_DONE: number }

/** A sink that keeps nothing, so only parsing is measured. */
const REQUEST_SINK = {
  bodyBytes: 0,
  onParsedRequestHead (): boolean { return true },
  onParsedRequestBody (chunk: Buffer): boolean { this.bodyBytes += chunk.length; return true },
}
const RESPONSE_SINK = {
  bodyBytes: 0,
  onParsedHead (): boolean { return true },
  onParsedBody (chunk: Buffer): boolean { this.bodyBytes += chunk.length; return true },
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function timeRounds (fn: () => void): number {
  const ns: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    for (let i = 0; i < MESSAGES_PER_ROUND; i++) fn()
    ns.push(((performance.now() - start) * 1e6) / MESSAGES_PER_ROUND)
  }
  return median(ns.slice(2)) // the first two rounds are warm-up
}

async function runOne (srcDir: string): Promise<Result> {
  const req = await import(pathToFileURL(resolve(srcDir, 'server/h1-request-parser.ts')).href) as RequestModule
  const res = await import(pathToFileURL(resolve(srcDir, 'proxy/h1-response-parser.ts')).href) as ResponseModule
  const rp = new req.H1RequestParser(REQUEST_SINK, 64 * 1024)
  const sp = new res.H1ResponseParser(RESPONSE_SINK, 64 * 1024)
  const request = (wire: Buffer) => (): void => {
    rp.reset()
    if (rp.execute(wire, 0, wire.length) !== req.PARSE_DONE) throw new Error('request did not parse')
  }
  const response = (wire: Buffer) => (): void => {
    sp.reset(false)
    if (sp.execute(wire, wire.length) !== res.PARSE_DONE) throw new Error('response did not parse')
  }
  return {
    src: srcDir,
    requestGetNs: timeRounds(request(REQUEST_GET)),
    requestChunkedNs: timeRounds(request(REQUEST_CHUNKED)),
    responseSizedNs: timeRounds(response(RESPONSE_SIZED)),
    responseChunkedNs: timeRounds(response(RESPONSE_CHUNKED)),
  }
}

const here = dirname(fileURLToPath(import.meta.url))
const argv = process.argv.slice(2)
if (argv[0] === '--one') {
  process.stdout.write(JSON.stringify(await runOne(argv[1] ?? resolve(here, '../../src'))) + '\n')
} else {
  const trees = [resolve(here, '../../src')]
  const other = argv[0] === '--src' ? argv[1] : undefined
  if (other !== undefined) trees.unshift(resolve(other))
  const self = fileURLToPath(import.meta.url)
  const rows: Result[] = []
  for (const src of trees) {
    const out = execFileSync(process.execPath, [self, '--one', src], { encoding: 'utf8' })
    rows.push(JSON.parse(out) as Result)
  }
  process.stdout.write(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}; ns per message, median of ${ROUNDS - 2} rounds of ${MESSAGES_PER_ROUND}\n`)
  process.stdout.write('tree'.padEnd(40) + 'req GET  req chunked  res sized  res chunked\n')
  for (const r of rows) {
    process.stdout.write(r.src.slice(-39).padEnd(40) + r.requestGetNs.toFixed(0).padStart(7) + r.requestChunkedNs.toFixed(0).padStart(13) +
      r.responseSizedNs.toFixed(0).padStart(11) + r.responseChunkedNs.toFixed(0).padStart(13) + '\n')
  }
}

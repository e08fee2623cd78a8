// An OTLP/HTTP sink for benchmarks: reads each export and answers 200 with an empty body, without
// decoding it (the cost measured is the exporting proxy's, not a collector's).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HOST } from './targets.ts'

export interface OtlpSink { origin: string, exports: number, bytes: number }

export async function startOtlpSink (): Promise<OtlpSink> {
  const sink: OtlpSink = { origin: '', exports: 0, bytes: 0 }
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => { sink.bytes += c.length })
    req.on('end', () => {
      sink.exports++
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end()
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, HOST, resolve) })
  server.unref()
  sink.origin = `http://${HOST}:${(server.address() as AddressInfo).port}`
  return sink
}

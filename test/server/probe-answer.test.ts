// The probe answer both modes write, and the ingress probe's hash (Knative's network probe handler).
import { createServer, request } from 'node:http'
import t from 'tap'
import { EMPTY_PROBE_BODY, ingressProbeHash, NO_HASH_BODY, writeProbeAnswer } from '../../src/server/probe-answer.ts'
import { listen } from '../proxy/h1-fixtures.ts'

async function answer (status: number, body: Buffer, hash: string | null): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
  const server = createServer((_req, res) => { writeProbeAnswer(res, status, body, hash) })
  const port = await listen(t, server)
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent: false }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('plain text, never cached, sized; K-Network-Hash echoed when given', async (t) => {
  const r = await answer(200, EMPTY_PROBE_BODY, 'abc123')
  t.equal(r.status, 200)
  t.equal(r.body, '')
  t.match(r.headers, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '0', 'cache-control': 'no-store', 'k-network-hash': 'abc123' })
  const r2 = await answer(400, NO_HASH_BODY, null)
  t.equal(r2.status, 400)
  t.equal(r2.body, 'a probe request must contain a non-empty "K-Network-Hash" header\n')
  t.equal(r2.headers['k-network-hash'], undefined)
})

t.test('ingressProbeHash: a non-empty K-Network-Hash, else null', async (t) => {
  const req = (headers: Record<string, string>) => ({ headers, rawHeaders: [], httpVersionMajor: 1, httpVersionMinor: 1, socket: {}, readableDidRead: false, resume: () => {} })
  t.equal(ingressProbeHash(req({ 'k-network-hash': 'h' })), 'h')
  t.equal(ingressProbeHash(req({ 'k-network-hash': '' })), null)
  t.equal(ingressProbeHash(req({})), null)
})

import { connect } from 'node:net'
import t from 'tap'
import { startApp, startSidecar } from '../helpers/sidecar-fixture.ts'

function rawRequest (port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => { s.write(bytes) })
    let d = ''
    s.on('data', (c: Buffer) => { d += c.toString('latin1') })
    s.on('close', () => { resolve(d) })
  })
}

t.test('header bytes Node accepts (obs-text) pass through unchanged; control bytes are a 400 before the app', async (t) => {
  const app = await startApp(t, (req, res) => { res.end(Buffer.from(String(req.headers['x-v']), 'latin1')) })
  const { ports } = await startSidecar(t, app.port)
  const ok = await rawRequest(ports.serving, Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-V: caf'), Buffer.from([0xe9]), Buffer.from('\r\nConnection: close\r\n\r\n')]))
  t.match(ok.split('\r\n')[0], /^HTTP\/1\.1 200/)
  t.equal(ok.split('\r\n\r\n')[1], 'caf\u00e9', 'obs-text byte forwarded as is')
  const bad = await rawRequest(ports.serving, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-V: a\x01b\r\nConnection: close\r\n\r\n'))
  t.match(bad, /^HTTP\/1\.1 400/)
})

import t, { type Test } from 'tap'
import { rawConnect } from '../helpers/raw-client.ts'
import { startApp, startSidecar } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

// Issue 13, defect 3 and the smuggling shapes the differential fuzzer seeds with, through a real
// sidecar: an ambiguous or obfuscated framing is refused before the app, with the status Go's
// server (Knative's queue-proxy) gives, and the connection closes so nothing after it is read as
// another request.

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'

/** Sends each case on its own connection: refused with its status, the connection closed, nothing after it read. */
async function refusedBeforeApp (t: Test, stack: Stack, cases: Array<[string, number, string]>): Promise<void> {
  const seen: string[] = []
  const app = await startApp(t, (req, res) => { seen.push(`${req.method} ${req.url}`); req.resume(); req.on('end', () => { res.end('ok') }) })
  const { ports } = await startSidecar(t, app.port, {}, stack.argv)
  for (const [what, status, wire] of cases) {
    const client = await rawConnect(ports.serving)
    client.socket.write(Buffer.from(wire, 'latin1'))
    await client.closed
    const text = client.text()
    // A refusal before the head was dispatched is the only answer; a chunked-body error after it
    // (the trailers case) ends the exchange with the app's request cut.
    if (what === 'Content-Length in the trailers') {
      t.notMatch(text, /smuggled/, `${what}: nothing after it is served`)
      continue
    }
    t.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), what)
    t.equal(text.split('HTTP/1.1 ').length - 1, 1, `${what}: one answer, the rest is not read as a request`)
  }
  t.notOk(seen.includes('GET /smuggled'), 'no smuggled request reached the app')
  t.same(seen.filter((s) => s !== 'POST /'), [], 'no request with a refused head reached the app')
}

test('obfuscated or ambiguous framing is refused before the app', async (t, stack) => {
  await refusedBeforeApp(t, stack, [
    ['Transfer-Encoding: chunked + NBSP (trim() took it as chunked)', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n' + SMUGGLED],
    ['Transfer-Encoding: NBSP + chunked, with Content-Length', 400, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \xa0chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n' + SMUGGLED],
    ['Transfer-Encoding: gzip, chunked', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' + SMUGGLED],
    ['CL.TE', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG' + SMUGGLED],
    ['bare LF line ends', 400, 'POST / HTTP/1.1\nHost: x\nContent-Length: 0\n\n' + SMUGGLED],
    ['space after the chunk size', 400, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0 \r\n\r\n' + SMUGGLED],
    ['Content-Length 5 and 05', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello' + SMUGGLED],
    ['Content-Length in the trailers', 400, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\nhello' + SMUGGLED],
  ])
})

// Split from the cases above because node:http answers them 400 (test/helpers/stacks.ts).
test('a Transfer-Encoding Go does not support (chunked + HTAB, two fields) is a 501 before the app', async (t, stack) => {
  await refusedBeforeApp(t, stack, [
    ['Transfer-Encoding: chunked + HTAB', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n' + SMUGGLED],
    ['two Transfer-Encoding fields', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n' + SMUGGLED],
  ])
})

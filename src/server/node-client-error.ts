import type { Socket } from 'node:net'
import { wasRefused } from './node-head-check.ts'

// `--http-server node`: what node:http's 'clientError' answers (llhttp refused the bytes before a
// request existed, or mid-body). As H1Server and Go's server: a head over the size limit is a 431,
// a bad chunk in a body already handed on a 400 "malformed request body: ...", anything else a 400.
// node:http gives these errors `code`s (HPE_*), so the fallback answers the same, except that
// HPE_INVALID_TRANSFER_ENCODING stays a 400: it stands for both a second Transfer-Encoding field
// (501 on H1Server) and Content-Length with Transfer-Encoding (400). A request node-head-check.ts
// already refused gets no second answer. Answers are static: built once.

function answer (status: number, reason: string, message: string): string {
  const body = message + '\n'
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

const HEAD_TOO_LARGE = answer(431, 'Request Header Fields Too Large', 'request head too large')
const BAD_CHUNK = answer(400, 'Bad Request', 'malformed request body: invalid chunk size')
const BAD_REQUEST = answer(400, 'Bad Request', 'bad request')

function answerFor (code: string | undefined): string {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return HEAD_TOO_LARGE
    case 'HPE_INVALID_CHUNK_SIZE': return BAD_CHUNK
    default: return BAD_REQUEST
  }
}

/** node:http's 'clientError' listener for the proxy ports: answer if the socket can take it, then close. */
export function onNodeClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return }
  if (wasRefused(socket)) { socket.end(); return } // its answer is out or on its way
  socket.end(answerFor(err.code))
}

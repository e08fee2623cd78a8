import type { Socket } from 'node:net'

// `--http-server node`: what node:http's 'clientError' answers (llhttp refused the bytes before a
// request existed, or mid-body). H1Server answers a head over the size limit with 431, as Go's
// server does, a bad chunk in a body it already handed on with 400 "malformed request body: ...",
// and any other refusal with 400; node:http gives these errors `code`s (HPE_*), so the fallback
// answers the same. Answers are static: built once.

function answer (status: number, reason: string, message: string): string {
  const body = message + '\n'
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

const HEAD_TOO_LARGE = answer(431, 'Request Header Fields Too Large', 'request head too large')
const BAD_CHUNK = answer(400, 'Bad Request', 'malformed request body: invalid chunk size')
const BAD_REQUEST = answer(400, 'Bad Request', 'bad request')

/** node:http's 'clientError' listener for the proxy ports: answer if the socket can take it, then close. */
export function onNodeClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return }
  socket.end(err.code === 'HPE_HEADER_OVERFLOW' ? HEAD_TOO_LARGE : err.code === 'HPE_INVALID_CHUNK_SIZE' ? BAD_CHUNK : BAD_REQUEST)
}


// A bearer token kept in a file (a mounted Kubernetes Secret key, or a file `sluice up` writes).
// Surrounding whitespace is not part of the token: `kubectl create secret --from-file` and editors
// leave a trailing newline, and a token never legitimately starts or ends with a blank.

/** Longest token accepted; a larger file is a mistake (a certificate, a log), not a token. */
export const MAX_TOKEN_BYTES = 4096

/** The file's token; throws (with a message naming the file) when it is missing, empty or oversized. */
export function readTokenFile (path: string): string {
  // node:fs by getBuiltinModule, not its ESM facade (which loads fs streams and fs/promises at start; issue 12).
  const text = process.getBuiltinModule('node:fs').readFileSync(path, 'utf8')
  if (Buffer.byteLength(text) > MAX_TOKEN_BYTES) throw new Error(`${path} is larger than ${MAX_TOKEN_BYTES} bytes`)
  const token = text.trim()
  if (token === '') throw new Error(`${path} is empty`)
  if (/\s/.test(token)) throw new Error(`${path} holds more than one word (a token has no blanks)`)
  return token
}

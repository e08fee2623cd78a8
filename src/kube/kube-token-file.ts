// A bearer token read from a file and re-read about every minute, as client-go's cachingTokenSource
// over a file (transport/token_source.go NewCachedFileTokenSource): the kubelet rotates projected
// service account tokens (an hour or so before they expire), and a long-running activator must follow.
// A failed re-read keeps the last token (it is likely still valid) and is logged; there is no token
// only when the first read fails.

import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'

/** client-go re-reads the file once its cached token is older than a minute. */
export const TOKEN_FILE_REFRESH_MS = 60_000

export interface KubeTokenFileOptions {
  readonly path: string
  /** The token already read (the config resolution read it): used until the first refresh. */
  readonly initial: string
  readonly logger: Logger
  readonly clock?: Clock
  /** Tests: how the file is read; default fs.readFileSync. */
  readonly readFile?: (path: string) => string
}

export class KubeTokenFile {
  readonly #path: string
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #readFile: (path: string) => string
  #token: string
  #readAtMs: number

  constructor (opts: KubeTokenFileOptions) {
    this.#path = opts.path
    this.#logger = opts.logger
    this.#clock = opts.clock ?? realClock
    this.#readFile = opts.readFile ?? ((path) => process.getBuiltinModule('node:fs').readFileSync(path, 'utf8'))
    this.#token = opts.initial.trim()
    this.#readAtMs = this.#clock.nowMs()
  }

  /** The current token; re-reads the file first when the last read is TOKEN_FILE_REFRESH_MS old. */
  token (): string {
    const nowMs = this.#clock.nowMs()
    if (nowMs - this.#readAtMs < TOKEN_FILE_REFRESH_MS && this.#token !== '') return this.#token
    this.#readAtMs = nowMs
    try {
      // Trimmed as client-go's fileTokenSource does: a trailing newline is not part of the token.
      const token = this.#readFile(this.#path).trim()
      if (token === '') throw new Error('the file is empty')
      this.#token = token
    } catch (err) {
      this.#logger.warn({ err, path: this.#path }, 'kubernetes: cannot re-read the token file; keeping the last token')
    }
    return this.#token
  }
}

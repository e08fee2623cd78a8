// `--revisions FILE`: revisions from a YAML/JSON file (format in revisions-file.ts), re-read on change.
//
// Change detection watches the *directory*, not the file: editors replace files by rename, and a
// Kubernetes ConfigMap volume swaps a `..data` symlink, so events name other entries and a watch on
// the file itself would go stale. Any event in the directory schedules a debounced re-read; the text
// is compared with the last one read, so unrelated events cost one small read. A slow poll catches what
// fs.watch misses (network filesystems, a watcher error).
//
// Reload policy: a valid file is applied as a diff (upsert new/changed, remove dropped). An invalid file
// is logged (one line listing every problem) and the previous revisions stay. A missing file also keeps
// the previous revisions (an editor mid-save, a ConfigMap being rewritten): clear the list with
// `revisions: []` instead.

import { watch, type FSWatcher } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { ConfigError } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import { revisionKey, type RevisionSink, type RevisionSource, type RevisionSpec } from '../revision-spec.ts'
import { EmittedRevisions } from './emitted-revisions.ts'
import { parseRevisionsFile } from './revisions-file.ts'

export const DEFAULT_DEBOUNCE_MS = 100
export const DEFAULT_POLL_INTERVAL_MS = 5_000
/** Larger files are refused: 10,000 revisions with a few endpoints each fit easily. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024

export interface StaticFileSourceOptions {
  readonly path: string
  readonly logger: Logger
  /** Quiet time after the last fs event before re-reading. */
  readonly debounceMs?: number
  /** Poll fallback period; 0 disables polling. */
  readonly pollIntervalMs?: number
  /**
   * false: read once by start() and never again (`--source api --revisions`: the file seeds the
   * revisions before the ports open; from then on the admin API owns them). Default true.
   */
  readonly watch?: boolean
}

type ReadResult =
  | { readonly kind: 'ok', readonly text: string }
  | { readonly kind: 'missing', readonly message: string }
  | { readonly kind: 'error', readonly message: string }

export class StaticFileSource implements RevisionSource {
  readonly #path: string
  readonly #logger: Logger
  readonly #debounceMs: number
  readonly #pollIntervalMs: number
  readonly #watch: boolean
  #emitted: EmittedRevisions | null = null
  #watcher: FSWatcher | null = null
  #debounceTimer: NodeJS.Timeout | null = null
  #pollTimer: NodeJS.Timeout | null = null
  /** The text last read (valid or not); null when the file was missing or unreadable. */
  #lastText: string | null = null
  #reloading: Promise<void> | null = null
  #reloadAgain = false
  #closed = false

  constructor (opts: StaticFileSourceOptions) {
    this.#path = resolve(opts.path)
    this.#logger = opts.logger.child({ component: 'revisions-file', file: this.#path })
    this.#debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS
    this.#pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS
    this.#watch = opts.watch ?? true
    this.onFsEvent = this.onFsEvent.bind(this)
    this.onWatcherError = this.onWatcherError.bind(this)
    this.onTimer = this.onTimer.bind(this)
  }

  /**
   * Reads and applies the file, then starts watching. Rejects with a ConfigError listing every problem
   * when the file is missing or invalid (the CLI prints them and exits 2).
   */
  async start (sink: RevisionSink): Promise<void> {
    if (this.#emitted !== null || this.#closed) throw new Error('StaticFileSource: start() called twice or after close()')
    const read = await readRevisionsText(this.#path)
    if (read.kind !== 'ok') throw new ConfigError([`${this.#path}: cannot read revisions file: ${read.message}`])
    const parsed = parseRevisionsFile(read.text, this.#path)
    if ('problems' in parsed) throw new ConfigError(parsed.problems)

    const emitted = new EmittedRevisions(sink, this.#logger)
    this.#emitted = emitted
    this.#lastText = read.text
    emitted.sync(byKey(parsed.specs))
    this.#logger.info({ revisions: parsed.specs.length, watch: this.#watch }, 'revisions file loaded')
    if (!this.#watch) return

    try {
      // persistent: false: the servers keep the process alive, the watcher must not.
      this.#watcher = watch(dirname(this.#path), { persistent: false }, this.onFsEvent)
      this.#watcher.on('error', this.onWatcherError)
    } catch (err) {
      this.#logger.warn({ err }, 'cannot watch the revisions file directory; relying on polling')
    }
    if (this.#pollIntervalMs > 0) {
      this.#pollTimer = setInterval(this.onTimer, this.#pollIntervalMs)
      this.#pollTimer.unref()
    }
  }

  /**
   * Re-reads the file now and applies it (also what fs events and the poll call). Never rejects.
   * Reloads never overlap: one requested during a reload runs right after it, and both callers wait.
   */
  reload (): Promise<void> {
    if (this.#emitted === null || this.#closed) return Promise.resolve()
    if (this.#reloading !== null) {
      this.#reloadAgain = true
      return this.#reloading
    }
    this.#reloading = this.#reloadLoop()
    return this.#reloading
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#watcher !== null) {
      this.#watcher.close()
      this.#watcher = null
    }
    if (this.#debounceTimer !== null) clearTimeout(this.#debounceTimer)
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer)
    this.#debounceTimer = null
    this.#pollTimer = null
    if (this.#reloading !== null) await this.#reloading
  }

  /** fs.watch listener (bound once). Every event restarts the debounce window. */
  onFsEvent (_event: string, filename: string | Buffer | null): void {
    if (this.#closed) return
    if (this.#logger.isLevelEnabled('debug')) this.#logger.debug({ entry: filename === null ? null : String(filename) }, 'revisions directory changed')
    if (this.#debounceTimer === null) {
      this.#debounceTimer = setTimeout(this.onTimer, this.#debounceMs)
      this.#debounceTimer.unref()
    } else {
      this.#debounceTimer.refresh()
    }
  }

  onWatcherError (err: Error): void {
    this.#logger.warn({ err }, 'revisions file watcher failed; relying on polling')
    if (this.#watcher !== null) this.#watcher.close()
    this.#watcher = null
  }

  /** Debounce and poll timer callback (bound once). */
  onTimer (): void {
    this.reload().catch(() => {})
  }

  async #reloadLoop (): Promise<void> {
    try {
      do {
        this.#reloadAgain = false
        await this.#reloadOnce()
      } while (this.#reloadAgain && !this.#closed)
    } finally {
      this.#reloading = null
    }
  }

  async #reloadOnce (): Promise<void> {
    const emitted = this.#emitted
    if (emitted === null) return
    const read = await readRevisionsText(this.#path)
    if (this.#closed) return
    if (read.kind !== 'ok') {
      // Logged once per outage, not on every poll.
      if (this.#lastText !== null) {
        this.#logger.warn({ reason: read.message }, 'revisions file unreadable; keeping the previous revisions')
        this.#lastText = null
      }
      return
    }
    if (read.text === this.#lastText) return
    this.#lastText = read.text
    const parsed = parseRevisionsFile(read.text, this.#path)
    if ('problems' in parsed) {
      this.#logger.error({ problems: parsed.problems }, 'revisions file invalid; keeping the previous revisions')
      return
    }
    const { upserted, removed } = emitted.sync(byKey(parsed.specs))
    this.#logger.info({ revisions: parsed.specs.length, upserted, removed }, 'revisions file reloaded')
  }
}

async function readRevisionsText (path: string): Promise<ReadResult> {
  try {
    const info = await stat(path)
    if (!info.isFile()) return { kind: 'error', message: 'not a regular file' }
    if (info.size > MAX_FILE_BYTES) return { kind: 'error', message: `larger than ${MAX_FILE_BYTES} bytes` }
    return { kind: 'ok', text: await readFile(path, 'utf8') }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    if (isErrnoException(err) && err.code === 'ENOENT') return { kind: 'missing', message }
    return { kind: 'error', message }
  }
}

function byKey (specs: readonly RevisionSpec[]): Map<string, RevisionSpec> {
  const map = new Map<string, RevisionSpec>()
  for (const spec of specs) map.set(revisionKey(spec.namespace, spec.name), spec)
  return map
}

function isErrnoException (err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err
}

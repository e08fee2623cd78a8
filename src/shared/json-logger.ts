import { registerLevelTree, type LogFn, type Logger } from './logger.ts'
import { isoTimestamp } from './utc-time.ts'

// The sidecar's logger: the lines pino writes with createRootLogger's options (label levels, ISO
// time, pid and the bindings, the fields, `msg`; `err` as pino's standard serializer renders it),
// without pino. Importing pino costs a sidecar ~20 ms of start-up and ~7.5 MB of RSS (its transport
// code loads worker_threads, thread-stream, sonic-boom and the serializers; loadtest/results/
// cold-findings-2026-12-06.md), a tenth of its budget, for a process that logs a handful of lines
// (issue 12). The activator uses it too (measured: pino is ~7 MB of its idle RSS); the autoscaler
// and `sluice up` keep pino. test/shared/json-logger.test.ts compares the lines with pino's.
//
// A child's bindings are serialised once, when it is created (pino's chindings), so a line joins
// strings. Children share their root's level holder: setting `level` on any of them sets the tree's.

const LEVELS: Readonly<Record<string, number>> = Object.freeze({ trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity })

export type LineSink = (line: string) => void

class LevelHolder {
  name: string
  value: number

  constructor (name: string) {
    this.name = name
    this.value = levelValue(name)
  }
}

function levelValue (name: string): number {
  const v = LEVELS[name]
  if (v === undefined) throw new RangeError(`unknown log level ${JSON.stringify(name)}`)
  return v
}

function writeStdout (line: string): void {
  // Synchronous for files and pipes on Linux, as pino.destination({ sync: true }): the last lines
  // before an exit are not lost.
  process.stdout.write(line)
}

export class JsonLogger implements Logger {
  readonly #level: LevelHolder
  /** `,"key":value` for the root's base and every binding down to this child. */
  readonly #chindings: string
  readonly #sink: LineSink
  readonly trace: LogFn
  readonly debug: LogFn
  readonly info: LogFn
  readonly warn: LogFn
  readonly error: LogFn
  readonly fatal: LogFn

  constructor (level: LevelHolder, chindings: string, sink: LineSink) {
    this.#level = level
    this.#chindings = chindings
    this.#sink = sink
    // Bound once per logger (loggers are made at construction of components, not per request).
    this.trace = this.#method('trace')
    this.debug = this.#method('debug')
    this.info = this.#method('info')
    this.warn = this.#method('warn')
    this.error = this.#method('error')
    this.fatal = this.#method('fatal')
  }

  get level (): string { return this.#level.name }
  set level (name: string) {
    this.#level.value = levelValue(name)
    this.#level.name = name
  }

  isLevelEnabled (level: string): boolean {
    const v = LEVELS[level]
    return v !== undefined && v >= this.#level.value
  }

  child (bindings: Record<string, unknown>): Logger {
    return new JsonLogger(this.#level, this.#chindings + fieldsJson(bindings), this.#sink)
  }

  #method (name: string): LogFn {
    const value = levelValue(name)
    const prefix = `{"level":"${name}","time":"`
    const write = (obj: object | string, msg?: string): void => {
      if (value < this.#level.value) return
      let line = prefix + isoTimestamp(Date.now()) + '"' + this.#chindings
      if (typeof obj === 'string') {
        line += ',"msg":' + JSON.stringify(obj)
      } else {
        line += fieldsJson(obj)
        if (msg !== undefined) line += ',"msg":' + JSON.stringify(msg)
      }
      this.#sink(line + '}\n')
    }
    return write
  }
}

/** `,"key":value` for each own enumerable field (undefined ones left out, `err` serialised as pino does). */
function fieldsJson (obj: object): string {
  let out = ''
  for (const [key, v] of Object.entries(obj)) {
    const value: unknown = key === 'err' ? serializeError(v) : v
    const json = stringify(value)
    if (json !== undefined) out += ',' + JSON.stringify(key) + ':' + json
  }
  return out
}

/** JSON.stringify that never throws (cycles, BigInt): what it cannot render becomes a string. */
function stringify (value: unknown): string | undefined {
  try {
    return JSON.stringify(value) as string | undefined
  } catch {
    return JSON.stringify(String(value))
  }
}

function isErrorLike (v: unknown): v is Error {
  return v instanceof Error || (typeof v === 'object' && v !== null && typeof Reflect.get(v, 'message') === 'string' && typeof Reflect.get(v, 'stack') === 'string')
}

/** The causes of `err`, outermost first (pino-std-serializers' messageWithCauses / stackWithCauses). */
function causes (err: Error): Error[] {
  const out: Error[] = []
  const seen = new Set<unknown>([err])
  for (let c: unknown = err.cause; isErrorLike(c) && !seen.has(c); c = c.cause) {
    seen.add(c)
    out.push(c)
  }
  return out
}

/**
 * pino's standard `err` serializer: type (the constructor's name), message and stack with the causes'
 * appended, the errors of an AggregateError, and every other enumerable property (code, errno, ...).
 */
export function serializeError (err: unknown, seen: Set<unknown> = new Set()): unknown {
  if (!isErrorLike(err)) return err
  seen.add(err)
  const out: Record<string, unknown> = {
    type: typeof err.constructor === 'function' ? err.constructor.name : err.name,
    message: err.message,
    stack: err.stack,
  }
  let message = err.message
  let stack = err.stack ?? ''
  for (const c of causes(err)) {
    message += ': ' + c.message
    stack += '\ncaused by: ' + (c.stack ?? '')
  }
  out.message = message
  out.stack = stack
  const errors: unknown = Reflect.get(err, 'errors')
  if (Array.isArray(errors)) out.aggregateErrors = errors.map((e: unknown) => serializeError(e, seen))
  for (const key in err) {
    if (out[key] !== undefined) continue
    const v: unknown = Reflect.get(err, key)
    if (isErrorLike(v)) {
      if (key !== 'cause' && !seen.has(v)) out[key] = serializeError(v, seen)
    } else {
      out[key] = v
    }
  }
  return out
}

/**
 * The root logger of a sidecar: createRootLogger's lines (level labels, ISO time, pid, `bindings`)
 * to stdout, or to `sink` (tests).
 */
export function createJsonLogger (level: string, bindings: Record<string, string> = {}, sink: LineSink = writeStdout): JsonLogger {
  const root = new JsonLogger(new LevelHolder(level), fieldsJson({ pid: process.pid, ...bindings }), sink)
  // The tree shares the root's level holder: setLogLevel (config-logging) sets it through the root.
  registerLevelTree(root, { setLevel: (l) => { root.level = l } })
  return root
}

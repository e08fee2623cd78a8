import type { DestinationStream, Logger as PinoLogger, LoggerOptions } from 'pino'

// pino is required (it is CommonJS) when a root is made, not imported: the sidecar and the
// activator log through JsonLogger (json-logger.ts) and import this module for the interface and
// setLogLevel, and importing pino costs ~7 MB of RSS and ~20 ms (issue 12).
function loadPino (): typeof import('pino') {
  const pino: typeof import('pino') = process.getBuiltinModule('node:module').createRequire(import.meta.url)('pino')
  return pino
}

/** One log method: `(fields, message)` or `(message)`; fields may hold `err`. */
export interface LogFn {
  (obj: object, msg?: string): void
  (msg: string): void
}

/**
 * What components use of a logger: pino's Logger fits, and so does the sidecar's JsonLogger
 * (json-logger.ts), which writes the same lines without loading pino (issue 12).
 */
export interface Logger {
  level: string
  isLevelEnabled (level: string): boolean
  child (bindings: Record<string, unknown>): Logger
  trace: LogFn
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  fatal: LogFn
}

/**
 * The loggers of one root: pino children copy their level when created and never follow the
 * parent's, so a level change at run time (Knative's config-logging) has to reach each of them.
 * Held weakly: a child that is gone (a removed revision's) is not kept alive by this list.
 */
/** What setLogLevel reaches: every logger of one root. */
export interface LevelTree {
  setLevel (level: string): void
}

class LoggerTree implements LevelTree {
  #refs: Array<WeakRef<PinoLogger>> = []
  #pruneAt = 64

  add (logger: PinoLogger): void {
    this.#refs.push(new WeakRef(logger))
    if (this.#refs.length >= this.#pruneAt) {
      this.#refs = this.#refs.filter((r) => r.deref() !== undefined)
      this.#pruneAt = Math.max(64, this.#refs.length * 2)
    }
  }

  setLevel (level: string): void {
    for (const ref of this.#refs) {
      const logger = ref.deref()
      if (logger !== undefined) logger.level = level
    }
  }
}

const trees = new WeakMap<object, LevelTree>()

/** Makes setLogLevel(root, ...) reach `tree` (JsonLogger's roots register here too). */
export function registerLevelTree (root: Logger, tree: LevelTree): void {
  trees.set(root, tree)
}

/**
 * The one root logger of a process: JSON lines to stdout (fd 1), written synchronously so that
 * the last lines before an exit are never lost. Components take `root.child({ component })`
 * once, at construction. `destination` replaces stdout (tests).
 */
export function createRootLogger (level: string, bindings: Record<string, string> = {}, destination?: DestinationStream): Logger {
  const { pino } = loadPino()
  const tree = new LoggerTree()
  const options: LoggerOptions = {
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    onChild: (child) => { tree.add(child) },
  }
  const root = pino(options, destination ?? pino.destination({ fd: 1, sync: true }))
  tree.add(root)
  trees.set(root, tree)
  return root
}

/**
 * Sets the level of `root` and of every logger made from it. False (nothing changed) when `root`
 * is not a createRootLogger root.
 */
export function setLogLevel (root: Logger, level: string): boolean {
  const tree = trees.get(root)
  if (tree === undefined) return false
  tree.setLevel(level)
  return true
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger (): Logger {
  return loadPino().pino({ level: 'silent' })
}

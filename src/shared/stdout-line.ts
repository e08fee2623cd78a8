// Lines written as raw bytes to stdout, where Knative writes its request log and the stdout trace
// exporter (not through the logger). Its own file so that a mode imports it without the request
// log's Go emulation (knative-request-log.ts, loaded only when the request log is on; issue 12).

/** Receives one finished line (newline included). */
export type LineWriter = (line: string) => void

/**
 * Knative writes the request log to os.Stdout, not through its logger: one write per line, so lines
 * never interleave with pino's (which writes whole lines to fd 1 too). A write error (stdout gone)
 * must not crash the proxy: it is ignored, as Knative ignores the writer's error.
 */
export function writeStdout (line: string): void {
  if (!isStdoutGuarded) {
    isStdoutGuarded = true
    process.stdout.on('error', ignoreError)
  }
  process.stdout.write(line)
}

let isStdoutGuarded = false
function ignoreError (): void {}

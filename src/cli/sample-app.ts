import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { formatOptionsHelp } from '../config/options.ts'
import { loadSampleAppConfig, SAMPLE_APP_OPTIONS, type SampleAppConfig } from '../config/sample-app-config.ts'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts'
import { reportConfigProblems } from './report-config-problems.ts'

const HELP = `Usage: sluice sample-app [flags]

A tiny HTTP app for demos and tests: answers every request with its pod name, after
?sleep=MS milliseconds if asked. --cold-start-ms delays listening, like a slow-starting app.

`

function answer (config: SampleAppConfig, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const sleepRaw = url.searchParams.get('sleep')
  const sleepMs = sleepRaw === null ? 0 : Math.min(config.maxSleepMs, Math.max(0, Number(sleepRaw) || 0))
  const reply = (): void => {
    const body = `Hello from ${config.podName}${config.revision === '' ? '' : ` (revision ${config.revision})`}` +
      (sleepMs > 0 ? `, slept ${sleepMs} ms` : '') + '\n'
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-pod-name': config.podName })
    res.end(body)
  }
  // Drain the body so keep-alive connections stay usable.
  req.resume()
  if (sleepMs > 0) setTimeout(reply, sleepMs)
  else reply()
}

export async function sampleAppMain (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const loaded = loadSampleAppConfig(argv, env)
  if (loaded.help) { process.stdout.write(HELP + formatOptionsHelp(SAMPLE_APP_OPTIONS) + '\n'); return EXIT_OK }
  const config = loaded.config
  if (config === null) return reportConfigProblems(loaded.problems)
  if (config.coldStartMs > 0) await new Promise((resolve) => setTimeout(resolve, config.coldStartMs))
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => { answer(config, req, res) })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => { server.off('error', reject); resolve() })
    })
  } catch (err) {
    process.stderr.write(`sample-app: cannot listen on ${config.host}:${config.port}: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT_FAILURE
  }
  const stop = (): void => {
    server.close(() => { process.exit(EXIT_OK) })
    server.closeIdleConnections()
    setTimeout(() => { process.exit(EXIT_OK) }, 5_000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return null
}

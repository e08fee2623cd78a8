import { loadSidecarConfig, SIDECAR_OPTIONS } from '../config/sidecar-config.ts'
import { formatOptionsHelp } from '../config/options.ts'
import { createJsonLogger } from '../shared/json-logger.ts'
import { parseReadinessProbe } from '../sidecar/readiness-probe-spec.ts'
import { Sidecar } from '../sidecar/sidecar-server.ts'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts'
import { reportConfigProblems } from './report-config-problems.ts'

const HELP = `Usage: sluice sidecar [flags]

Runs in front of one user container, like Knative's queue-proxy: admission control
(CONTAINER_CONCURRENCY slots + a FIFO queue), probes, timeouts, drain, and stats on the
metrics port. Flags override env vars.

`

export async function sidecarMain (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const loaded = loadSidecarConfig(argv, env)
  if (loaded.help) { process.stdout.write(HELP + formatOptionsHelp(SIDECAR_OPTIONS) + '\n'); return EXIT_OK }
  const problems = [...loaded.problems]
  const config = loaded.config
  let specs: ReturnType<typeof parseReadinessProbe> = { specs: [] }
  if (config !== null) {
    // No probe given: probe the user port over TCP, as Knative's webhook defaults a container
    // without a readiness probe to tcpSocket on its port (periodSeconds 0 = aggressive).
    const raw = config.readinessProbe !== '' ? config.readinessProbe : JSON.stringify({ tcpSocket: { port: config.userPort }, successThreshold: 1 })
    specs = parseReadinessProbe(raw, { userPort: config.userPort, multiContainer: config.multiContainerProbes })
    if ('problems' in specs) problems.push(...specs.problems.map((p) => p.startsWith('config:') ? p : `config: ${p}`))
  }
  if (config === null || problems.length > 0 || 'problems' in specs) return reportConfigProblems(problems)

  // pino's lines without pino: ~20 ms and ~7.5 MB less per sidecar (json-logger.ts; issue 12).
  const logger = createJsonLogger(config.logLevel, { mode: 'sidecar', revision: config.revision, pod: config.pod })
  const sidecar = new Sidecar(config, specs.specs, logger)
  try {
    await sidecar.listen()
  } catch (err) {
    logger.fatal({ err }, 'cannot listen')
    await sidecar.close()
    return EXIT_FAILURE
  }
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT_FAILURE)
    }
    logger.info({ signal }, 'shutting down')
    sidecar.shutdown().then(() => { process.exit(EXIT_OK) }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(EXIT_FAILURE)
    })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return null
}

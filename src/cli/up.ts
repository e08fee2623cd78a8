import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ActivatorAdminClient } from '../autoscaler/activator-admin-client.ts'
import { localAddressOf } from '../config/listen-host.ts'
import { ActivatorQueuePoller } from '../autoscaler/activator-queue-poller.ts'
import { AutoscalerService } from '../autoscaler/autoscaler-service.ts'
import { buildColdStartBreakdown } from '../autoscaler/cold-start-breakdown.ts'
import { pickFreePorts } from '../local/free-port.ts'
import { NOT_SEEN } from '../local/local-pod.ts'
import { LocalActuator, SAMPLE_APP_COMMAND, type LocalRevision } from '../local/local-actuator.ts'
import { ProcessReaper } from '../local/process-reaper.ts'
import { readAppsFile, type AppsFile } from '../config/apps-file.ts'
import { formatOptionsHelp } from '../config/options.ts'
import { loadUpConfig, UP_OPTIONS, type UpConfig } from '../config/up-config.ts'
import { createRootLogger, type Logger } from '../shared/logger.ts'
import { realClock } from '../shared/clock.ts'
import { realTimers } from '../shared/timers.ts'
import { ActivatorChild } from './activator-child.ts'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts'
import { planLocalStack, PodLogFile, toAutoscaledRevision, toLocalRevision } from './local-stack.ts'
import { reportConfigProblems } from './report-config-problems.ts'
import { UpAdminToken } from './up-admin-token.ts'

const HELP = `Usage: sluice up [flags]

The whole scale-from-zero loop on one machine: the activator (where you send traffic), the
reference KPA autoscaler with its status page, and a local scaler that runs each revision's pods
as process pairs (sidecar + your app) on free loopback ports.

Without --config it runs one revision, hello (the built-in sample app: ?sleep=MS), with
containerConcurrency 1, min scale 0 and max scale 10. Ctrl-C stops everything.

`

/**
 * `up` starts revisions at zero (Knative's default initial scale is 1): scale from zero is the
 * point. A config file's `autoscaler:` keys override these.
 */
const UP_AUTOSCALER_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  'initial-scale': '0',
  'allow-zero-initial-scale': 'true',
})

function defaultApps (config: UpConfig): AppsFile {
  const command = [...SAMPLE_APP_COMMAND, '--host', '127.0.0.1']
  if (config.coldStartMs > 0) command.push('--cold-start-ms', String(config.coldStartMs))
  return {
    autoscaler: {},
    apps: [{
      namespace: 'default',
      name: 'hello',
      command,
      port: null,
      env: {},
      cwd: null,
      containerConcurrency: 1,
      hosts: [],
      timeoutSeconds: null,
      readinessProbe: '',
      // 20 clients at containerConcurrency 1 would ask for 29 pods (58 processes); 10 keeps a
      // laptop responsive and still shows panic and scale-out.
      annotations: { 'autoscaling.knative.dev/max-scale': '10' },
    }],
  }
}

function urlHost (host: string): string {
  const local = localAddressOf(host)
  return local.includes(':') ? `[${local}]` : local
}

export async function upMain (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const loaded = loadUpConfig(argv, env)
  if (loaded.help) { process.stdout.write(HELP + formatOptionsHelp(UP_OPTIONS) + '\n'); return EXIT_OK }
  const config = loaded.config
  if (config === null) return reportConfigProblems(loaded.problems)
  const file = config.configFile === '' ? { file: defaultApps(config), problems: null } : readAppsFile(config.configFile)
  if (file.file === null) return reportConfigProblems(file.problems)
  const { plan, problems } = planLocalStack(file.file, UP_AUTOSCALER_DEFAULTS)
  if (plan === null) return reportConfigProblems(problems)

  const logger = createRootLogger(config.logLevel, { mode: 'up' })
  const baseEnv: Record<string, string | undefined> = { ...env }
  const host = config.host
  const trafficUrl = `http://${urlHost(host)}:${config.port}`
  const statusUrl = `http://${urlHost(host)}:${config.statusPort}`
  const [statsPort, adminPort, metricsPort] = await pickFreePorts(3)
  const reaper = new ProcessReaper()
  // The revisions API stays on loopback and needs this run's token (up-admin-token.ts).
  const adminToken = new UpAdminToken()
  process.once('exit', () => { adminToken.remove() })
  const admin = new ActivatorAdminClient(`http://127.0.0.1:${adminPort}`, `http://${urlHost(host)}:${config.port}`, adminToken.token)
  const podLog = config.podLog === '' ? null : new PodLogFile(config.podLog)
  const actuator = new LocalActuator({
    activator: admin,
    baseEnv,
    clock: realClock,
    timers: realTimers,
    logger: logger.child({ component: 'local-actuator' }),
    reaper,
    output: podLog,
    drainSeconds: config.drainSeconds,
    spareSidecars: config.spareSidecar,
  })
  const queue = new ActivatorQueuePoller(`http://127.0.0.1:${metricsPort}/metrics`, realTimers)
  const service = new AutoscalerService({
    config: plan.config,
    actuator,
    logger,
    host: '127.0.0.1',
    statusHost: host,
    statsPort,
    statusPort: config.statusPort,
    activatorProbe: () => admin.probe(),
    podDetails: (r) => actuator.pods(r),
    queueDepth: (ns, name) => queue.depth(ns, name),
    coldStart: (r) => {
      const cold = actuator.coldStart(r)
      if (cold === null) return null
      const seen = (ms: number): number | null => ms === NOT_SEEN ? null : ms
      const t = cold.times
      const pod = { pod: cold.pod, spawnWallMs: seen(t.spawnWallMs), appListeningWallMs: seen(t.appListeningWallMs), sidecarReadyWallMs: seen(t.sidecarReadyWallMs), sidecarPrestarted: t.sidecarPrestarted }
      return buildColdStartBreakdown(pod, queue.coldStart(r.namespace, r.name))
    },
    trafficUrl,
  })
  let activator: ActivatorChild | null = null
  let stopping: Promise<void> | null = null

  const shutdown = (why: string): Promise<void> => {
    if (stopping !== null) return stopping
    logger.info({ why }, 'stopping')
    stopping = (async () => {
      service.multiscaler.close()
      await actuator.close()
      await activator?.stop()
      await Promise.all([service.close(), queue.close(), admin.close(), podLog?.close()])
      adminToken.remove()
      reaper.close()
    })()
    return stopping
  }

  try {
    // The status server listens on --host (what people open); the stat server stays on loopback.
    await startService(service, config, logger)
    // Revisions known to the autoscaler and the actuator before the activator opens its port (which
    // gets them from the seed file), so the first request's poke finds them: scale from zero at once.
    const locals = plan.apps.map((app) => toLocalRevision(app))
    for (let i = 0; i < plan.apps.length; i++) {
      const app = plan.apps[i]
      const local = locals[i]
      if (app === undefined || local === undefined) continue
      await actuator.addRevision(local, true)
      const appProblems = service.upsert(toAutoscaledRevision(app))
      if (appProblems.length > 0) throw new Error(appProblems.join('; '))
    }
    activator = new ActivatorChild({
      host,
      port: config.port,
      // The revisions, without endpoints, before the traffic port opens: a request sent the moment
      // it listens waits for a pod instead of getting 404 (the actuator's PUTs then take over).
      revisionsFile: writeSeedRevisions(adminToken.dir, locals),
      adminPort,
      adminTokenFile: adminToken.path,
      adminToken: adminToken.token,
      metricsPort,
      autoscalerUrl: `ws://127.0.0.1:${statsPort}/`,
      statsProtocol: config.statsProtocol,
      // With a single revision, every request that names no revision goes to it.
      defaultRevision: plan.apps.length === 1 ? `${plan.apps[0]?.namespace ?? 'default'}/${plan.apps[0]?.name ?? ''}` : '',
      logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel,
      env: baseEnv,
      reaper,
    })
    await activator.waitReady()
    queue.start()
  } catch (err) {
    logger.fatal({ err }, 'cannot start')
    await shutdown('start failed')
    return EXIT_FAILURE
  }

  const names = plan.apps.map((a) => `${a.namespace}/${a.name}`).join(', ')
  process.stdout.write([
    '',
    `sluice up: ${names} ready (0 pods until the first request)`,
    `  traffic  ${trafficUrl}${plan.apps.length === 1 ? '' : '  (route with a Host header from each app\'s hosts)'}`,
    `  status   ${statusUrl}`,
    `  try      npx autocannon -c 20 -d 20 "${trafficUrl}/?sleep=200"`,
    'Ctrl-C stops everything.',
    '',
    '',
  ].join('\n'))

  activator.exited.then(({ code, signal }) => {
    if (stopping !== null) return
    logger.fatal({ code, signal }, 'the activator exited; stopping')
    shutdown('activator exited').then(() => { process.exit(EXIT_FAILURE) }, () => { process.exit(EXIT_FAILURE) })
  }, () => {})

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: killing everything now')
      reaper.killAllSync()
      process.exit(EXIT_FAILURE)
    }
    shutdown(signal).then(() => { process.exit(EXIT_OK) }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      reaper.killAllSync()
      process.exit(EXIT_FAILURE)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  return null
}

/** The revisions file the activator reads once at start (revisions-file.ts format; JSON is YAML). */
function writeSeedRevisions (dir: string, revisions: readonly LocalRevision[]): string {
  const path = join(dir, 'revisions.json')
  const list = revisions.map((r) => ({
    namespace: r.namespace,
    name: r.name,
    containerConcurrency: r.containerConcurrency,
    endpoints: [],
    hosts: r.hosts ?? [],
    ...(r.timeoutSeconds !== undefined && r.timeoutSeconds !== null ? { timeoutSeconds: r.timeoutSeconds } : {}),
  }))
  writeFileSync(path, JSON.stringify({ revisions: list }) + '\n', { mode: 0o600 })
  return path
}

async function startService (service: AutoscalerService, config: UpConfig, logger: Logger): Promise<void> {
  try {
    await service.start()
  } catch (err) {
    throw new Error(`cannot listen (is --status-port ${config.statusPort} free?)`, { cause: err })
  }
  logger.debug({ statusPort: config.statusPort }, 'autoscaler listening')
}

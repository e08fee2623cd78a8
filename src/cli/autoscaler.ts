import { ActivatorAdminClient } from '../autoscaler/activator-admin-client.ts'
import { ActivatorQueuePoller } from '../autoscaler/activator-queue-poller.ts'
import type { Actuator, PodCounts, PodView, RevisionId } from '../autoscaler/actuator.ts'
import { revisionKeyOf } from '../autoscaler/actuator.ts'
import { AutoscalerService } from '../autoscaler/autoscaler-service.ts'
import { LocalActuator } from '../local/local-actuator.ts'
import { ProcessReaper } from '../local/process-reaper.ts'
import { readAppsFile, type AppsFile } from '../config/apps-file.ts'
import { AUTOSCALER_MODE_OPTIONS, loadAutoscalerModeConfig } from '../config/autoscaler-config-flags.ts'
import { formatOptionsHelp } from '../config/options.ts'
import { realClock } from '../shared/clock.ts'
import { createRootLogger } from '../shared/logger.ts'
import { realTimers } from '../shared/timers.ts'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts'
import { planLocalStack, PodLogFile, toAutoscaledRevision, toLocalRevision } from './local-stack.ts'
import { reportConfigProblems } from './report-config-problems.ts'

const HELP = `Usage: sluice autoscaler [flags]

The reference KPA autoscaler: a websocket stat server for activators (knative protobuf or
json frames, docs/stats-protocol.md), a scraper of sidecar metrics, Knative's KPA decider per
revision, and a status page. Apps and config-autoscaler keys come from --config
(docs/sluice-up.md); with --actuator local their pods run as local processes registered with the
activator at --activator-admin. \`sluice up\` runs this together with an activator.

`

/** Decides and reports, runs nothing: for watching the KPA against a live activator. */
class NoopActuator implements Actuator {
  readonly #requested = new Map<string, number>()
  setScale (r: RevisionId, pods: number): void { this.#requested.set(revisionKeyOf(r.namespace, r.name), pods) }
  readyPods (): readonly PodView[] { return [] }
  podCounts (): PodCounts { return { ready: 0, pending: 0, terminating: 0 } }
  requestedScale (r: RevisionId): number | null { return this.#requested.get(revisionKeyOf(r.namespace, r.name)) ?? null }
  watch (): void {}
  async close (): Promise<void> {}
}

export async function autoscalerMain (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const loaded = loadAutoscalerModeConfig(argv, env)
  if (loaded.help) { process.stdout.write(HELP + formatOptionsHelp(AUTOSCALER_MODE_OPTIONS) + '\n'); return EXIT_OK }
  const config = loaded.config
  if (config === null) return reportConfigProblems(loaded.problems)
  const empty: AppsFile = { autoscaler: {}, apps: [] }
  const file = config.configFile === '' ? { file: empty, problems: null } : readAppsFile(config.configFile)
  if (file.file === null) return reportConfigProblems(file.problems)
  const { plan, problems } = planLocalStack(file.file, {})
  if (plan === null) return reportConfigProblems(problems)

  const logger = createRootLogger(config.logLevel, { mode: 'autoscaler' })
  const admin = config.activatorAdmin === '' ? null : new ActivatorAdminClient(config.activatorAdmin, config.activatorUrl)
  const reaper = config.actuator === 'local' ? new ProcessReaper() : null
  const podLog = config.podLog === '' ? null : new PodLogFile(config.podLog)
  const local = config.actuator === 'local'
    ? new LocalActuator({
      activator: admin,
      baseEnv: { ...env },
      clock: realClock,
      timers: realTimers,
      logger: logger.child({ component: 'local-actuator' }),
      reaper,
      output: podLog,
      drainSeconds: config.drainSeconds,
    })
    : null
  if (local !== null && admin === null && plan.apps.length > 0) {
    logger.warn('no --activator-admin: local pods run but no activator learns their endpoints')
  }
  const actuator: Actuator = local ?? new NoopActuator()
  const queue = config.activatorMetrics === '' ? null : new ActivatorQueuePoller(config.activatorMetrics, realTimers)
  const service = new AutoscalerService({
    config: plan.config,
    actuator,
    logger,
    host: config.host,
    statsPort: config.statsPort,
    statusPort: config.statusPort,
    scrape: config.scrape,
    activatorProbe: admin === null ? undefined : () => admin.probe(),
    podDetails: local === null ? undefined : (r) => local.pods(r),
    queueDepth: queue === null ? undefined : (ns, name) => queue.depth(ns, name),
    trafficUrl: config.activatorUrl === '' ? null : config.activatorUrl,
  })

  let stopping: Promise<void> | null = null
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      service.multiscaler.close()
      await actuator.close()
      await Promise.all([service.close(), queue?.close(), admin?.close(), podLog?.close()])
      reaper?.close()
    })()
    return stopping
  }

  try {
    const ports = await service.start()
    for (const app of plan.apps) {
      await local?.addRevision(toLocalRevision(app))
      const appProblems = service.upsert(toAutoscaledRevision(app))
      if (appProblems.length > 0) throw new Error(appProblems.join('; '))
    }
    queue?.start()
    logger.info({ statsPort: ports.stats, statusPort: ports.status, revisions: plan.apps.length, actuator: config.actuator }, 'autoscaler ready')
  } catch (err) {
    logger.fatal({ err }, 'cannot start')
    await shutdown()
    return EXIT_FAILURE
  }

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      reaper?.killAllSync()
      process.exit(EXIT_FAILURE)
    }
    logger.info({ signal }, 'shutting down')
    shutdown().then(() => { process.exit(EXIT_OK) }, (err: unknown) => {
      logger.error({ err }, 'shutdown failed')
      reaper?.killAllSync()
      process.exit(EXIT_FAILURE)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return null
}

import { EXIT_OK, EXIT_USAGE } from './exit-codes.ts'

// Dispatches `sluice <mode>`. Each mode lives in its own module, loaded only when chosen, so
// `sluice sidecar` never loads the autoscaler. Mode functions resolve to an exit code, or to
// null when they keep running (servers) and exit on their own signals.

export type ModeMain = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number | null>

interface Mode {
  summary: string
  load: () => Promise<ModeMain>
}

const MODES: Readonly<Record<string, Mode>> = {
  sidecar: { summary: 'queue-proxy in front of one user container (Knative queue-proxy contract)', load: async () => (await import('./sidecar.ts')).sidecarMain },
  activator: { summary: 'shared proxy in front of many revisions: buffers at zero, load-balances under capacity', load: async () => (await import('./activator.ts')).activatorMain },
  autoscaler: { summary: 'reference KPA autoscaler: receives activator stats, scrapes sidecars, scales', load: async () => (await import('./autoscaler.ts')).autoscalerMain },
  up: { summary: 'the whole scale-from-zero loop on one machine (autoscaler + activator + local scaler)', load: async () => (await import('./up.ts')).upMain },
  'sample-app': { summary: 'tiny HTTP app for demos and tests (?sleep=MS, cold-start delay)', load: async () => (await import('./sample-app.ts')).sampleAppMain },
}

function version (): string {
  // Not a static import of node:fs: its ESM facade reads every export, which loads fs streams and
  // fs/promises (~45 internal modules) in every mode's start for a flag that is rarely given.
  const pkg = JSON.parse(process.getBuiltinModule('node:fs').readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
  return pkg.version ?? '0.0.0'
}

function usage (): string {
  const width = Math.max(...Object.keys(MODES).map((m) => m.length)) + 2
  const lines = Object.entries(MODES).map(([name, m]) => `  ${name.padEnd(width)}${m.summary}`)
  return [
    'Usage: sluice <mode> [flags]',
    '',
    'Modes:',
    ...lines,
    '',
    'Flags: sluice <mode> --help lists a mode\'s flags and env vars. sluice --version prints the version.',
    '',
  ].join('\n')
}

export async function main (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const [first, ...rest] = argv
  if (first === '--version' || first === '-v') { process.stdout.write(`sluice ${version()}\n`); return EXIT_OK }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage())
    return first === undefined ? EXIT_USAGE : EXIT_OK
  }
  const mode = MODES[first]
  if (mode === undefined) {
    process.stderr.write(`sluice: unknown mode ${JSON.stringify(first)}\n\n${usage()}`)
    return EXIT_USAGE
  }
  const run = await mode.load()
  return run(rest, env)
}

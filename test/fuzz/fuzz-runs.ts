// How many generated cases a differential fuzz test runs: a few thousand under `npm test`, many
// more under `npm run fuzz`, which sets SLUICE_FUZZ_RUNS. SLUICE_FUZZ_SEED replays a run that
// failed (fast-check prints its seed). Tests may read the environment; src/ may not (config/).

export function fuzzRuns (defaultRuns: number): number {
  const n = Number(process.env.SLUICE_FUZZ_RUNS ?? '')
  return Number.isInteger(n) && n > 0 ? n : defaultRuns
}

export function fuzzSeed (): number | undefined {
  const raw = process.env.SLUICE_FUZZ_SEED
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  return Number.isInteger(n) ? n : undefined
}

import { EXIT_FAILURE } from './exit-codes.ts'

// Placeholder until this mode lands (replaced by its owner).
export async function activatorMain (_argv: readonly string[], _env: NodeJS.ProcessEnv): Promise<number | null> {
  process.stderr.write('sluice: this mode is not built yet\n')
  return EXIT_FAILURE
}

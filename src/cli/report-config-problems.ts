import { EXIT_USAGE } from './exit-codes.ts'

/** Prints one readable line per configuration problem on stderr; returns the usage exit code. */
export function reportConfigProblems (problems: readonly string[]): number {
  process.stderr.write(problems.map((p) => p + '\n').join(''))
  return EXIT_USAGE
}

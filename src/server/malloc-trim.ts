// glibc's malloc_trim(0) through the optional addon src/native/malloc-trim.c (built by
// scripts/build-native.mjs, named by --malloc-trim-addon): after the reclaimer's memory-reducing GC,
// the free pages inside glibc's heap go back too (reduce-memory.ts says why they stay otherwise).

/** Returns true when memory was given back. */
export type MallocTrim = () => boolean

/** Loads the addon (process.dlopen, synchronous, once per reclaimer); throws when it cannot. */
export function loadMallocTrim (path: string): MallocTrim {
  const module: { exports: Record<string, unknown> } = { exports: {} }
  process.dlopen(module, path)
  const fn = module.exports.mallocTrim
  if (typeof fn !== 'function') throw new Error(`${path} has no mallocTrim function`)
  return () => fn() === true
}

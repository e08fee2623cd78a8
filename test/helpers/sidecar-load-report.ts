// Child process of test/cli/lazy-loading.test.ts: records every module the ESM/CommonJS loaders load
// (module.registerHooks, synchronous and in-thread, so nothing is missed) and runs `sluice <argv>`
// through the CLI's dispatch, as bin/sluice does. On the IPC message 'report' it answers with the
// loaded module URLs and Node's built-in modules (process.moduleLoadList: built-ins loaded with
// process.getBuiltinModule do not pass the hooks).
import { registerHooks } from 'node:module'

const loaded: string[] = []
registerHooks({
  load (url, context, nextLoad) {
    loaded.push(url)
    return nextLoad(url, context)
  },
})

/** process.moduleLoadList (not in @types/node): `NativeModule <id>` per built-in loaded. */
function builtins (): string[] {
  const list: unknown = Reflect.get(process, 'moduleLoadList')
  const out: string[] = []
  if (Array.isArray(list)) for (const m of list) if (typeof m === 'string' && m.startsWith('NativeModule ')) out.push(m.slice('NativeModule '.length))
  return out
}

process.on('message', (message: unknown) => {
  if (message === 'report') process.send?.({ loaded, builtins: builtins() })
})

// SLUICE_MAIN: a built dist/cli/main.js (the image form) instead of the sources.
const entry = process.env.SLUICE_MAIN ?? new URL('../../src/cli/main.ts', import.meta.url).href
const cli: unknown = await import(entry)
const main: unknown = typeof cli === 'object' && cli !== null ? Reflect.get(cli, 'main') : undefined
if (typeof main !== 'function') throw new TypeError(`${entry} exports no main`)
await main(process.argv.slice(2), process.env)

// Child process for the backpressure test: an activator alone in its process, so its RSS is its own.
// Arguments: extra activator flags (the stack under test). Protocol (IPC): sends {port} once listening; answers {cmd: 'stats'} with RSS after a memory-reducing GC.
import { Activator } from '../../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../../src/config/activator-config.ts'
import { reduceMemory } from '../../../src/server/reduce-memory.ts'
import { silentLogger } from '../../../src/shared/logger.ts'

const loaded = loadActivatorConfig(['--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--queue-depth', '10000', ...process.argv.slice(2)], { POD_NAME: 'bp' })
if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
const activator = new Activator(loaded.config, silentLogger())
activator.registry.upsert({ namespace: 'default', name: 'bp', containerConcurrency: 1, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null })
const ports = await activator.listen()

// The collection the activator's idle reclaimer runs once traffic stops (src/server/reduce-memory.ts:
// V8's memory-reducing GC, which also gives back the young generation the burst grew), on both
// sides of the comparison; an ordinary gc() returns none of that, so RSS compared pages V8 kept.
function collect (): void {
  reduceMemory()
}

process.on('message', (msg: unknown) => {
  if (typeof msg !== 'object' || msg === null || !('cmd' in msg)) return
  if (msg.cmd === 'stats') {
    collect()
    // Let freed sockets and buffers settle, then measure.
    setTimeout(() => {
      collect()
      const revision = activator.registry.lookup('default', 'bp')
      const mu = process.memoryUsage()
      process.send?.({ rss: mu.rss, heapUsed: mu.heapUsed, queued: revision?.throttler.queued ?? -1, active: activator.active.count })
    }, 100)
  } else if (msg.cmd === 'exit') {
    void activator.close().then(() => { process.exit(0) })
  }
})
process.send?.({ port: ports.serving })

// The process reaper's own process (see process-reaper.ts). Started detached, so a Ctrl-C aimed
// at the terminal's process group does not reach it. Reads lines from stdin: `+<pgid>` tracks a
// process group, `-<pgid>` forgets it. When stdin ends, which happens however the parent exits
// (return, crash, SIGKILL), every group still tracked gets SIGTERM, then SIGKILL after the grace
// period given as argv[2] (ms), and the reaper exits. Nothing is printed: there is nobody to read it.

import { createInterface } from 'node:readline'

const graceMs = Math.max(0, Number(process.argv[2] ?? '3000') || 0)
const groups = new Set<number>()

function signalAll (signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try { process.kill(-pgid, signal) } catch { /* already gone */ }
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const pgid = Number(line.slice(1))
  if (!Number.isInteger(pgid) || pgid <= 1) return
  if (line.startsWith('+')) groups.add(pgid)
  else if (line.startsWith('-')) groups.delete(pgid)
})
lines.on('close', () => {
  if (groups.size === 0) process.exit(0)
  signalAll('SIGTERM')
  setTimeout(() => {
    signalAll('SIGKILL')
    process.exit(0)
  }, graceMs)
})

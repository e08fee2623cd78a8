// Free loopback ports for local pods and internal listeners. The OS picks them (listen on 0);
// all `count` listeners stay open until every port is known, so one call never returns the same
// port twice. Another process can still take a port between this call and its use: callers that
// spawn a listener treat "address in use" as a failed start and retry with new ports.

import { createServer, type Server } from 'node:net'

export async function pickFreePorts (count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      ports.push(await new Promise<number>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, host, () => {
          const address = server.address()
          if (address === null || typeof address === 'string') reject(new Error('no port'))
          else resolve(address.port)
        })
      }))
    }
    return ports
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => { resolve() }) })))
  }
}

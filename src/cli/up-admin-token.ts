// `sluice up` talks to its activator child over the revisions API on loopback. Loopback keeps other
// machines out, not other users of this one, so `up` also makes a random bearer token for the run,
// in a file only this user can read (a fresh 0700 directory, the file 0600), and hands the file to
// the activator (--admin-token-file) and the token to its own admin client.

import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class UpAdminToken {
  readonly token: string
  readonly path: string
  /** The run's private directory (0700): other files only `up` and its activator read go here too. */
  readonly dir: string

  constructor (parent: string = tmpdir()) {
    // mkdtemp creates the directory 0700; 32 random bytes are beyond guessing.
    this.dir = mkdtempSync(join(parent, 'sluice-up-'))
    this.path = join(this.dir, 'admin-token')
    this.token = randomBytes(32).toString('base64url')
    writeFileSync(this.path, this.token + '\n', { mode: 0o600, flag: 'wx' })
  }

  /** Deletes the file and its directory; safe to call twice. */
  remove (): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

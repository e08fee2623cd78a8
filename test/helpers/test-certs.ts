import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Throwaway certificates made by openssl at test time (P-256, valid a day): self-signed pairs for
// the TLS ports, and a CA with leaves signed by it for the activator's verified dials.

export const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0
/** For `t.test(name, { skip }, ...)`. */
export const SKIP_WITHOUT_OPENSSL: string | false = HAS_OPENSSL ? false : 'openssl is not installed: cannot make a test certificate'

export interface Pair { cert: Buffer; key: Buffer }

interface TeardownHost { teardown (fn: () => unknown): void }

function openssl (args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']

/** A self-signed certificate for localhost and 127.0.0.1; `cn` tells two apart. */
export function makePair (dir: string, cn: string): Pair {
  const keyOut = join(dir, `${cn}.key`)
  const certOut = join(dir, `${cn}.crt`)
  openssl(['req', '-x509', ...EC, '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyOut, '-out', certOut])
  return { cert: readFileSync(certOut), key: readFileSync(keyOut) }
}

/** A CA certificate and key (`name` tells two apart). */
export function makeCa (dir: string, name: string): Pair {
  const keyOut = join(dir, `${name}.key`)
  const certOut = join(dir, `${name}.crt`)
  openssl(['req', '-x509', ...EC, '-subj', `/CN=${name}`, '-keyout', keyOut, '-out', certOut])
  return { cert: readFileSync(certOut), key: readFileSync(keyOut) }
}

/** A leaf certificate signed by `ca` with these DNS names (plus IP 127.0.0.1). */
export function makeLeaf (dir: string, ca: Pair, name: string, dnsNames: readonly string[]): Pair {
  const caCert = join(dir, `${name}-issuer.crt`)
  const caKey = join(dir, `${name}-issuer.key`)
  writeFileSync(caCert, ca.cert)
  writeFileSync(caKey, ca.key)
  const keyOut = join(dir, `${name}.key`)
  const certOut = join(dir, `${name}.crt`)
  const san = [...dnsNames.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')
  openssl(['req', '-x509', '-CA', caCert, '-CAkey', caKey, ...EC, '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', keyOut, '-out', certOut])
  return { cert: readFileSync(certOut), key: readFileSync(keyOut) }
}

export interface CertDir {
  /** The mounted directory (tls.crt, tls.key, ca.crt). */
  dir: string
  /** A scratch directory beside it, for makePair and friends. */
  work: string
  /** Replaces the files by rename, as a Secret update is atomic; `ca` also writes ca.crt. */
  install (p: Pair, ca?: Buffer): void
}

/** A cert dir as Knative mounts a Secret, removed at teardown. */
export function certDir (t: TeardownHost): CertDir {
  const work = mkdtempSync(join(tmpdir(), 'sluice-tls-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  const dir = join(work, 'certs')
  mkdirSync(dir)
  return {
    dir,
    work,
    install (p: Pair, ca?: Buffer) {
      if (ca !== undefined) {
        writeFileSync(join(work, 'tmp.ca'), ca)
        renameSync(join(work, 'tmp.ca'), join(dir, 'ca.crt'))
      }
      writeFileSync(join(work, 'tmp.crt'), p.cert)
      writeFileSync(join(work, 'tmp.key'), p.key)
      renameSync(join(work, 'tmp.key'), join(dir, 'tls.key'))
      renameSync(join(work, 'tmp.crt'), join(dir, 'tls.crt'))
    },
  }
}

/** The SHA-256 fingerprint openssl reports, in Node's getPeerCertificate().fingerprint256 form. */
export function fingerprintOf (pem: Buffer): string {
  const r = spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' })
  return r.stdout.trim().replace(/^.*=/, '')
}

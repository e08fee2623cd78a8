// A kubeconfig exec credential plugin for the tests (run as: node exec-credential-plugin.mjs <stateDir> <mode>).
// Each run counts itself in <stateDir>/runs, records what it was given in <stateDir>/run-<n>.json
// (KUBERNETES_EXEC_INFO, BASE_VAR, argv) and answers by mode:
//   token   ExecCredential v1 with token `${TOKEN_PREFIX}-<n>` (expirationTimestamp from <stateDir>/expiry if present)
//   beta    the same as client.authentication.k8s.io/v1beta1
//   cert    client certificate and key from <stateDir>/client.crt and client.key
//   fail    exit 3 with a message on stderr
//   garbage not JSON
//   hang    never answers
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [stateDir, mode] = process.argv.slice(2)
const runsFile = join(stateDir, 'runs')
const n = (existsSync(runsFile) ? Number(readFileSync(runsFile, 'utf8')) : 0) + 1
writeFileSync(runsFile, String(n))
writeFileSync(join(stateDir, `run-${n}.json`), JSON.stringify({
  execInfo: JSON.parse(process.env.KUBERNETES_EXEC_INFO ?? 'null'),
  baseVar: process.env.BASE_VAR ?? null,
  argv: process.argv.slice(2),
}))
const expiryFile = join(stateDir, 'expiry')
const expirationTimestamp = existsSync(expiryFile) ? readFileSync(expiryFile, 'utf8').trim() : undefined
const credential = (apiVersion, status) => JSON.stringify({ apiVersion, kind: 'ExecCredential', status: { expirationTimestamp, ...status } })
switch (mode) {
  case 'token': process.stdout.write(credential('client.authentication.k8s.io/v1', { token: `${process.env.TOKEN_PREFIX}-${n}` })); break
  case 'beta': process.stdout.write(credential('client.authentication.k8s.io/v1beta1', { token: `${process.env.TOKEN_PREFIX}-${n}` })); break
  case 'cert': process.stdout.write(credential('client.authentication.k8s.io/v1', {
    clientCertificateData: readFileSync(join(stateDir, 'client.crt'), 'utf8'),
    clientKeyData: readFileSync(join(stateDir, 'client.key'), 'utf8'),
  })); break
  case 'fail': process.stderr.write('error: You must be logged in to the server\n'); process.exit(3); break
  case 'garbage': process.stdout.write('Please log in at https://example/device'); break
  case 'hang': setInterval(() => {}, 1 << 30); break
}

import t from 'tap'
import { isConnectError } from '../../src/proxy/connect-errors.ts'
import { UpstreamConnectionError, UpstreamTlsError } from '../../src/shared/errors.ts'

t.test('connect failures (the request never reached the app) and nothing else', async (t) => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code })
  for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']) t.ok(isConnectError(withCode(code)), code)
  t.ok(isConnectError(new UpstreamConnectionError('UND_ERR_CONNECT_TIMEOUT', 'timed out')), 'our clients\' connect timeout')
  t.ok(isConnectError(new UpstreamTlsError('bad certificate')), 'a failed TLS verification')
  for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']) t.notOk(isConnectError(withCode(code)), `${code}: the request may have been sent`)
  t.notOk(isConnectError(new Error('no code')))
})

// The token file is re-read once a minute of the injected clock, as client-go's cachingTokenSource:
// a rotation shows within a minute; a failed or empty re-read keeps the last token and is logged.
import t from 'tap'
import { KubeTokenFile, TOKEN_FILE_REFRESH_MS } from '../../src/kube/kube-token-file.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { captureLogger } from '../activator/sources/capture-logger.ts'

t.test('the initial token (trimmed) until a minute passed, then the file\'s', async (t) => {
  const clock = new ManualClock()
  let content = 'second\n'
  let reads = 0
  const tf = new KubeTokenFile({ path: '/sa/token', initial: 'first\n', logger: captureLogger().logger, clock, readFile: () => { reads++; return content } })
  t.equal(tf.token(), 'first')
  clock.advance(TOKEN_FILE_REFRESH_MS - 1)
  t.equal(tf.token(), 'first')
  t.equal(reads, 0, 'no read within the minute')
  clock.advance(1)
  t.equal(tf.token(), 'second')
  content = 'third'
  clock.advance(30_000)
  t.equal(tf.token(), 'second', 'cached for another minute')
  clock.advance(30_000)
  t.equal(tf.token(), 'third')
  t.equal(reads, 2)
})

t.test('a failed or empty re-read keeps the last token and logs, then tries again a minute later', async (t) => {
  const clock = new ManualClock()
  const { logger, lines } = captureLogger()
  let content: string | null = null
  const tf = new KubeTokenFile({
    path: '/sa/token',
    initial: 'kept',
    logger,
    clock,
    readFile: () => { if (content === null) throw new Error('ENOENT: gone'); return content },
  })
  clock.advance(TOKEN_FILE_REFRESH_MS)
  t.equal(tf.token(), 'kept')
  content = '  \n'
  clock.advance(TOKEN_FILE_REFRESH_MS)
  t.equal(tf.token(), 'kept')
  t.match(lines, [
    { msg: 'kubernetes: cannot re-read the token file; keeping the last token', path: '/sa/token', err: { message: 'ENOENT: gone' } },
    { msg: 'kubernetes: cannot re-read the token file; keeping the last token', err: { message: 'the file is empty' } },
  ])
  content = 'fresh'
  t.equal(tf.token(), 'kept', 'not before the next minute')
  clock.advance(TOKEN_FILE_REFRESH_MS)
  t.equal(tf.token(), 'fresh')
})

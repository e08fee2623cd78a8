// readTokenFile: a bearer token from a mounted Secret or a file `sluice up` wrote. Every refusal
// names the file.
import { join } from 'node:path'
import t from 'tap'
import { MAX_TOKEN_BYTES, readTokenFile } from '../../src/config/token-file.ts'

t.test('the token without surrounding whitespace (kubectl --from-file leaves a newline)', async (t) => {
  const dir = t.testdir({ token: '  s3cr3t-token\n', plain: 'abc' })
  t.equal(readTokenFile(join(dir, 'token')), 's3cr3t-token')
  t.equal(readTokenFile(join(dir, 'plain')), 'abc')
})

t.test('refusals: missing, empty, blank, two words, oversized', async (t) => {
  const dir = t.testdir({
    empty: '',
    blank: ' \n\t\n',
    words: 'one two\n',
    big: 'x'.repeat(MAX_TOKEN_BYTES + 1),
    max: 'y'.repeat(MAX_TOKEN_BYTES),
  })
  t.throws(() => readTokenFile(join(dir, 'missing')), { code: 'ENOENT' })
  t.throws(() => readTokenFile(join(dir, 'empty')), { message: `${join(dir, 'empty')} is empty` })
  t.throws(() => readTokenFile(join(dir, 'blank')), { message: `${join(dir, 'blank')} is empty` })
  t.throws(() => readTokenFile(join(dir, 'words')), { message: /words holds more than one word/ })
  t.throws(() => readTokenFile(join(dir, 'big')), { message: `${join(dir, 'big')} is larger than ${MAX_TOKEN_BYTES} bytes` })
  t.equal(readTokenFile(join(dir, 'max')).length, MAX_TOKEN_BYTES, 'exactly the limit is accepted')
})

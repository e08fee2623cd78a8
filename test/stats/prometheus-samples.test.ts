import t from 'tap'
import { samplesOf } from '../../src/stats/prometheus-samples.ts'
import { escapeLabelValue } from '../../src/stats/prometheus-text.ts'

const collect = (text: string, family: string): Array<[Record<string, string>, number]> =>
  [...samplesOf(text, family)].map((s) => [Object.fromEntries(s.labels), s.value])

t.test('the samples of one family, labels unescaped as the writer escaped them, timestamps ignored', async (t) => {
  const tricky = 'a"b\\c\nd'
  const text = [
    '# HELP q queued',
    '# TYPE q gauge',
    `q{namespace="ns",revision="${escapeLabelValue(tricky)}"} 3`,
    'q{namespace="ns",revision="r2"} 1.5 1700000000000',
    'other{revision="x"} 9',
    'x_q{revision="suffix"} 7', // a family whose name ends with this one's
    'q{revision="broken" 4', // no closing brace
    'q{revision="nan"} NaN',
    'q 12', // no labels
  ].join('\n')
  t.same(collect(text, 'q'), [
    [{ namespace: 'ns', revision: tricky }, 3],
    [{ namespace: 'ns', revision: 'r2' }, 1.5],
  ])
  t.same(collect('', 'q'), [])
  t.same(collect('q{revision="last"} 2', 'q'), [[{ revision: 'last' }, 2]], 'a last line without a newline')
})

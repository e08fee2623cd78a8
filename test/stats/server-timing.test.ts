import t from 'tap'
import { SERVER_TIMING_HEADER, serverTimingValue } from '../../src/stats/server-timing.ts'

t.test('builds queue and upstream durations in ms', async (t) => {
  t.equal(SERVER_TIMING_HEADER, 'server-timing')
  t.equal(serverTimingValue(1.234, 5.6), 'queue;dur=1.234, upstream;dur=5.6')
  t.equal(serverTimingValue(0, 12), 'queue;dur=0, upstream;dur=12')
  t.equal(serverTimingValue(0.00049, 1.23456), 'queue;dur=0, upstream;dur=1.235', 'rounded to microseconds')
})

t.test('a negative or NaN duration is left out', async (t) => {
  t.equal(serverTimingValue(3, -1), 'queue;dur=3')
  t.equal(serverTimingValue(Number.NaN, 4.5), 'upstream;dur=4.5')
  t.equal(serverTimingValue(-1, -1), '')
})

// ColdStartTimeline: one revision's last cold start as wall-clock instants, reused per cold start.
import t from 'tap'
import { ColdStartTimeline, NOT_YET } from '../../src/activator/cold-start-timeline.ts'

t.test('empty until a cold start begins; begin() clears the previous one', async (t) => {
  const tl = new ColdStartTimeline()
  t.equal(tl.hasRequest, false)
  t.same([tl.requestWallMs, tl.endpointReadyWallMs, tl.forwardedWallMs, tl.firstByteWallMs], [NOT_YET, NOT_YET, NOT_YET, NOT_YET])
  tl.begin(1_000)
  tl.endpointReadyWallMs = 1_800
  tl.forwardedWallMs = 1_801
  tl.firstByteWallMs = 1_850
  t.equal(tl.hasRequest, true)
  tl.begin(5_000)
  t.same([tl.requestWallMs, tl.endpointReadyWallMs, tl.forwardedWallMs, tl.firstByteWallMs], [5_000, NOT_YET, NOT_YET, NOT_YET])
})

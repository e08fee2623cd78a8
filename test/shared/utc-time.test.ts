import t from 'tap'
import { httpDate, isoTimestamp } from '../../src/shared/utc-time.ts'

// Date's own formatting is the reference: the point of utc-time.ts is to produce the same strings
// without the ICU time-zone set-up Date's formatters trigger.
const FIXED = [
  0, 1, 999, 1000, 86_399_999, 86_400_000,
  951_782_400_000, // 2000-02-29 (a leap day in a century year divisible by 400)
  951_868_799_999, // 2000-02-29T23:59:59.999Z
  1_709_164_800_000, // 2024-02-29
  4_107_542_400_000, // 2100-03-01 (2100 is not a leap year)
  4_107_455_999_999, // 2100-02-28T23:59:59.999Z
  1_796_572_800_123, // 2026-12-06
  253_402_300_799_999, // 9999-12-31T23:59:59.999Z
]

t.test('formats fixed instants exactly as Date does', async (t) => {
  for (const ms of FIXED) {
    t.equal(isoTimestamp(ms), new Date(ms).toISOString(), `iso ${ms}`)
    t.equal(httpDate(ms), new Date(ms).toUTCString(), `http ${ms}`)
  }
})

t.test('formats 20,000 pseudo-random instants from 1970 to 9999 exactly as Date does', async (t) => {
  let seed = 12_345
  let mismatches = 0
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    const ms = Math.floor((seed / 2_147_483_648) * 253_402_300_799_999)
    if (isoTimestamp(ms) !== new Date(ms).toISOString() || httpDate(ms) !== new Date(ms).toUTCString()) mismatches++
  }
  t.equal(mismatches, 0)
})

t.test('every day of 2023 to 2025, at its first and last millisecond', async (t) => {
  let mismatches = 0
  for (let ms = Date.UTC(2023, 0, 1); ms < Date.UTC(2026, 0, 1); ms += 86_400_000) {
    for (const x of [ms, ms + 86_399_999]) {
      if (isoTimestamp(x) !== new Date(x).toISOString() || httpDate(x) !== new Date(x).toUTCString()) mismatches++
    }
  }
  t.equal(mismatches, 0)
})

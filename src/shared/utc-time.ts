// UTC timestamps from epoch milliseconds, formatted by arithmetic instead of Date's toISOString() /
// toUTCString(). Either of those, the first time a process calls it, has V8 set up its date cache's
// time zone through ICU, which reads ~0.5 MB of ICU's data and code from the node binary (~0.9 MB RSS,
// for output that never depends on a time zone; issue 12, loadtest/results/memory-findings-2026-12-06b.md).
// Output is identical to Date's for 1970-01-01 to 9999-12-31 (test/shared/utc-time.test.ts compares).

const DAY_MS = 86_400_000
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** Civil date of a day count since 1970-01-01 (H. Hinnant's days_from_civil inverse), set into `out`. */
class CivilDate {
  year = 1970
  /** 1-12 */
  month = 1
  /** 1-31 */
  day = 1

  setDays (days: number): void {
    const z = days + 719_468
    const era = Math.floor(z / 146_097)
    const doe = z - era * 146_097
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
    const mp = Math.floor((5 * doy + 2) / 153)
    this.day = doy - Math.floor((153 * mp + 2) / 5) + 1
    this.month = mp < 10 ? mp + 3 : mp - 9
    this.year = yoe + era * 400 + (this.month <= 2 ? 1 : 0)
  }
}

const civil = new CivilDate()

function pad2 (n: number): string {
  return n < 10 ? '0' + n : String(n)
}

function pad3 (n: number): string {
  return n < 10 ? '00' + n : n < 100 ? '0' + n : String(n)
}

/** `2026-12-06T16:15:21.123Z`, as new Date(ms).toISOString(). */
export function isoTimestamp (ms: number): string {
  const days = Math.floor(ms / DAY_MS)
  let rest = ms - days * DAY_MS
  civil.setDays(days)
  const h = Math.floor(rest / 3_600_000)
  rest -= h * 3_600_000
  const m = Math.floor(rest / 60_000)
  rest -= m * 60_000
  const s = Math.floor(rest / 1000)
  return civil.year + '-' + pad2(civil.month) + '-' + pad2(civil.day) + 'T' + pad2(h) + ':' + pad2(m) + ':' + pad2(s) + '.' + pad3(Math.floor(rest - s * 1000)) + 'Z'
}

/** `Sun, 06 Dec 2026 16:15:21 GMT` (RFC 9110's IMF-fixdate), as new Date(ms).toUTCString(). */
export function httpDate (ms: number): string {
  const days = Math.floor(ms / DAY_MS)
  let rest = Math.floor((ms - days * DAY_MS) / 1000)
  civil.setDays(days)
  const h = Math.floor(rest / 3600)
  rest -= h * 3600
  const m = Math.floor(rest / 60)
  return WEEKDAYS[(days % 7 + 11) % 7] + ', ' + pad2(civil.day) + ' ' + MONTHS[civil.month - 1] + ' ' + civil.year + ' ' + pad2(h) + ':' + pad2(m) + ':' + pad2(rest - m * 60) + ' GMT'
}

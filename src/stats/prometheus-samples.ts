// Reading Prometheus text exposition back (the autoscaler's status page scrapes the activator's
// gauges): the sample lines of one metric family, label values unescaped. Only what our own
// writer (prometheus-text.ts) produces needs to parse; a line that does not is skipped.

export interface PrometheusSample {
  readonly labels: ReadonlyMap<string, string>
  readonly value: number
}

const LABEL_RE = /(\w+)="((?:[^"\\]|\\.)*)"/g

function unescapeLabelValue (raw: string): string {
  return raw.replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
}

/** The samples of `family` (`name{labels} value [timestamp]`) in `text`, in order; lines without labels are skipped. */
export function * samplesOf (text: string, family: string): Generator<PrometheusSample> {
  const prefix = family + '{'
  let from = 0
  for (;;) {
    const i = text.indexOf(prefix, from)
    if (i === -1) return
    const eol = text.indexOf('\n', i)
    const line = text.slice(i, eol === -1 ? text.length : eol)
    from = eol === -1 ? text.length : eol + 1
    // Only at a line start: another family's name may end with this one's.
    if (i > 0 && text.charCodeAt(i - 1) !== 10) continue
    const close = line.lastIndexOf('}')
    if (close === -1) continue
    const labels = new Map<string, string>()
    for (const m of line.slice(prefix.length, close).matchAll(LABEL_RE)) labels.set(m[1] ?? '', unescapeLabelValue(m[2] ?? ''))
    const value = Number(line.slice(close + 1).trim().split(' ')[0])
    if (Number.isFinite(value)) yield { labels, value }
  }
}

// Types for the untyped test-only parser (parse-prometheus-text-format 1.1.1, dist/*.cjs.js).
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value?: string
    labels?: Record<string, string>
    /** Summaries: quantile -> value. */
    quantiles?: Record<string, string>
    count?: string
    sum?: string
    buckets?: Record<string, string>
    timestamp_ms?: string
  }
  export interface PromFamily {
    name: string
    help: string
    /** Upper case: GAUGE, COUNTER, SUMMARY, HISTOGRAM, UNTYPED. */
    type: string
    metrics: PromSample[]
  }
  export default function parsePrometheusTextFormat (text: string): PromFamily[]
}

import type { Attributes, HrTime, ValueType } from '@opentelemetry/api'
import { hrTime } from '@opentelemetry/core'
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer, type ScopeMetrics } from '@opentelemetry/sdk-metrics'
import type { Resource } from '@opentelemetry/resources'

// Knative's request metrics, aggregated here and handed to the SDK's readers as a MetricProducer,
// rather than recorded through SDK instruments. Why: an SDK instrument hashes its attribute set
// on every record (sorted keys, JSON.stringify; sdk-metrics utils.js hashAttributes), and a request
// records six histograms with seven attributes each: measured at ~6.5 us of CPU per request
// (loadtest/micro/otel-exchange.bench.ts), a third of the proxy's own cost. Here a request finds its
// series with one Map lookup on a key it builds once, and bumps plain counters; the data points the
// exporters see are the ones the SDK would build (cumulative, explicit buckets, min/max).
//
// Each family holds at most MAX_SERIES attribute sets; past that, values go to one overflow series
// with `otel.metric.overflow: true`, as the SDK's cardinality limit does (2000 by default).

export const MAX_SERIES = 2000
const OVERFLOW_KEY = '\u0000overflow'
const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true })

export interface MetricDescription {
  readonly name: string
  readonly description: string
  readonly unit: string
  readonly valueType: ValueType
}

/** One attribute set of an explicit-bucket histogram. */
export class HistogramPoint {
  readonly attributes: Attributes
  readonly startTime: HrTime
  readonly bounds: readonly number[]
  /** bounds.length + 1 buckets: counts[i] holds values <= bounds[i] (and > bounds[i-1]); the last, the rest. */
  readonly counts: number[]
  count: number
  sum: number
  min: number
  max: number

  constructor (attributes: Attributes, bounds: readonly number[]) {
    this.attributes = attributes
    this.startTime = hrTime()
    this.bounds = bounds
    this.counts = new Array<number>(bounds.length + 1).fill(0)
    this.count = 0
    this.sum = 0
    this.min = Number.POSITIVE_INFINITY
    this.max = Number.NEGATIVE_INFINITY
  }

  record (value: number): void {
    const bounds = this.bounds
    let i = 0
    // Linear: 14-15 bounds, and most requests land in the first few.
    while (i < bounds.length && value > (bounds[i] ?? Number.POSITIVE_INFINITY)) i++
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }
}

/** One attribute set of a sum (monotonic or not) or of a gauge. */
export class NumberPoint {
  readonly attributes: Attributes
  readonly startTime: HrTime
  value: number

  constructor (attributes: Attributes) {
    this.attributes = attributes
    this.startTime = hrTime()
    this.value = 0
  }
}

/** A bounded map of series by key. */
abstract class Family<P> {
  readonly description: MetricDescription
  readonly #points = new Map<string, P>()

  constructor (description: MetricDescription) {
    this.description = description
  }

  abstract create (attributes: Attributes): P

  /** The point of `key`, if it has one (the request path: no attributes built). */
  get (key: string): P | undefined { return this.#points.get(key) }

  /** A new point for `key` with `attributes`; past MAX_SERIES keys, the overflow point. */
  add (key: string, attributes: Attributes): P {
    const full = this.#points.size >= MAX_SERIES
    const k = full ? OVERFLOW_KEY : key
    let p = this.#points.get(k)
    if (p === undefined) {
      p = this.create(full ? OVERFLOW_ATTRIBUTES : attributes)
      this.#points.set(k, p)
    }
    return p
  }

  get points (): IterableIterator<P> { return this.#points.values() }
  get size (): number { return this.#points.size }
}

export class HistogramFamily extends Family<HistogramPoint> {
  readonly bounds: readonly number[]

  constructor (description: MetricDescription, bounds: readonly number[]) {
    super(description)
    this.bounds = Object.freeze([...bounds])
  }

  create (attributes: Attributes): HistogramPoint { return new HistogramPoint(attributes, this.bounds) }

  toMetricData (endTime: HrTime): MetricData | null {
    if (this.size === 0) return null
    const dataPoints = []
    for (const p of this.points) {
      dataPoints.push({
        attributes: p.attributes,
        startTime: p.startTime,
        endTime,
        value: { buckets: { boundaries: [...p.bounds], counts: [...p.counts] }, count: p.count, sum: p.sum, min: p.count > 0 ? p.min : undefined, max: p.count > 0 ? p.max : undefined },
      })
    }
    return { descriptor: this.description, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM, dataPoints }
  }
}

export class SumFamily extends Family<NumberPoint> {
  readonly isMonotonic: boolean

  constructor (description: MetricDescription, isMonotonic: boolean) {
    super(description)
    this.isMonotonic = isMonotonic
  }

  create (attributes: Attributes): NumberPoint { return new NumberPoint(attributes) }

  toMetricData (endTime: HrTime): MetricData | null {
    if (this.size === 0) return null
    const dataPoints = []
    for (const p of this.points) dataPoints.push({ attributes: p.attributes, startTime: p.startTime, endTime, value: p.value })
    return { descriptor: this.description, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: this.isMonotonic, dataPoints }
  }
}

/** A synchronous gauge: the last value recorded for each attribute set. */
export class GaugeFamily extends Family<NumberPoint> {
  create (attributes: Attributes): NumberPoint { return new NumberPoint(attributes) }

  toMetricData (endTime: HrTime): MetricData | null {
    if (this.size === 0) return null
    const dataPoints = []
    for (const p of this.points) dataPoints.push({ attributes: p.attributes, startTime: p.startTime, endTime, value: p.value })
    return { descriptor: this.description, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints }
  }
}

export type AnyFamily = HistogramFamily | SumFamily | GaugeFamily

export interface ScopeFamilies {
  readonly scope: { readonly name: string, readonly version?: string }
  readonly families: readonly AnyFamily[]
}

/** Hands the families to a reader at each collection (export or scrape). */
export class RequestMetricsProducer implements MetricProducer {
  readonly #scopes: readonly ScopeFamilies[]
  readonly #resource: Resource

  constructor (resource: Resource, scopes: readonly ScopeFamilies[]) {
    this.#resource = resource
    this.#scopes = scopes
  }

  async collect (): Promise<CollectionResult> {
    const endTime = hrTime()
    const scopeMetrics: ScopeMetrics[] = []
    for (const s of this.#scopes) {
      const metrics: MetricData[] = []
      for (const f of s.families) {
        const data = f.toMetricData(endTime)
        if (data !== null) metrics.push(data)
      }
      if (metrics.length > 0) scopeMetrics.push({ scope: { ...s.scope }, metrics })
    }
    return { resourceMetrics: { resource: this.#resource, scopeMetrics }, errors: [] }
  }
}


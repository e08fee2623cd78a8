// The Kubernetes objects the Kubernetes source reads, parsed defensively from raw JSON (watch events
// are untyped; a malformed object is skipped, never trusted).

import { isIPv4, isIPv6 } from 'node:net'
import { isRecord } from '../../shared/is-record.ts'

/** The label Knative puts on a revision's services (and the EndpointSlice controller copies to slices). */
export const KNATIVE_REVISION_LABEL = 'serving.knative.dev/revision'
/** Knative's private service of a revision: its slices list the pods' queue-proxy ports. */
export const KNATIVE_PRIVATE_SELECTOR = `${KNATIVE_REVISION_LABEL},networking.internal.knative.dev/serviceType=Private`
/**
 * Knative's public service of a revision. With the activator in the request path (SKS proxy mode) its
 * endpoints are the activators serving the revision (Knative writes Endpoints; the EndpointSlice mirroring
 * controller copies them, labels included, into slices); in serve mode they are the pods.
 */
export const KNATIVE_PUBLIC_SELECTOR = `${KNATIVE_REVISION_LABEL},networking.internal.knative.dev/serviceType=Public`
/** Port names Knative gives the queue-proxy port on the private service (`http`, or `http2` for h2c). */
export const KNATIVE_PORT_NAMES: readonly string[] = ['http', 'http2']

export interface ObjectRef {
  readonly namespace: string
  readonly name: string
}

export interface EndpointSliceInfo extends ObjectRef {
  /** Value of the revision label; null = not a revision's slice (ignored). */
  readonly revision: string | null
  /** Ready endpoints as `ip:port` (`[ip]:port` for IPv6), sorted, without duplicates. */
  readonly endpoints: readonly string[]
  /**
   * Endpoints kubelet does not count as ready yet (`conditions.ready: false`) and that are not
   * terminating: what Knative's activator reads as the Endpoints' notReadyAddresses (the Endpoints
   * controller leaves terminating pods out altogether; slices keep them, flagged). Same form and order.
   */
  readonly notReadyEndpoints: readonly string[]
}

/** A public service's slice: who is in front of the revision, by address. */
export interface PublicSliceInfo extends ObjectRef {
  /** Value of the revision label; null = not a revision's slice (ignored). */
  readonly revision: string | null
  /** Ready addresses (IPs as written in the slice), sorted, without duplicates. */
  readonly addresses: readonly string[]
}

export interface KnativeRevisionInfo extends ObjectRef {
  /** spec.containerConcurrency; null when absent or invalid. */
  readonly containerConcurrency: number | null
  /** spec.timeoutSeconds; null when absent or invalid. */
  readonly timeoutSeconds: number | null
  /** spec.responseStartTimeoutSeconds and spec.idleTimeoutSeconds (0 = off); null when absent or invalid. */
  readonly responseStartTimeoutSeconds: number | null
  readonly idleTimeoutSeconds: number | null
  /**
   * Knative's enableProbeOptimisation (revision_backends.go getOrCreateRevisionWatcher): a pod whose
   * queue-proxy answers the activator's probe may take traffic before kubelet marks it ready. False
   * when the queue-proxy's check does not cover the pod's readiness: the serving container has an
   * exec readiness probe or a startup probe, or a sidecar container has a startup probe (kubelet
   * runs those, so only kubelet's ready counts).
   */
  readonly probeOptimisation: boolean
}

/** metadata.namespace and metadata.name, or null when either is missing. */
export function objectRef (obj: unknown): ObjectRef | null {
  if (!isRecord(obj) || !isRecord(obj.metadata)) return null
  const { namespace, name } = obj.metadata
  if (typeof namespace !== 'string' || typeof name !== 'string' || namespace === '' || name === '') return null
  return { namespace, name }
}

/**
 * A discovery.k8s.io/v1 EndpointSlice. Endpoints: those not explicitly unready (`conditions.ready` nil means
 * ready, per the API), first address only (a pod's addresses are fungible; using all would count it twice),
 * on the first port whose name is in `portNames` (in that order). FQDN slices give no endpoints.
 * notReadyEndpoints: the same for `conditions.ready: false` without `terminating: true`.
 */
export function parseEndpointSlice (obj: unknown, revisionLabel: string, portNames: readonly string[]): EndpointSliceInfo | null {
  const ref = objectRef(obj)
  if (ref === null || !isRecord(obj)) return null
  const port = pickPort(obj.ports, portNames)
  const endpoints: string[] = []
  const notReadyEndpoints: string[] = []
  if (port !== null) {
    const v6 = obj.addressType === 'IPv6'
    for (const address of readyAddresses(obj)) endpoints.push(v6 ? `[${address}]:${port}` : `${address}:${port}`)
    for (const address of addressesWhere(obj, isNotReady)) notReadyEndpoints.push(v6 ? `[${address}]:${port}` : `${address}:${port}`)
  }
  // Sorted again: with the port appended, `10.0.0.10:80` sorts before `10.0.0.1:80`.
  return {
    namespace: ref.namespace,
    name: ref.name,
    revision: revisionOf(obj, revisionLabel),
    endpoints: endpoints.sort(),
    notReadyEndpoints: notReadyEndpoints.sort(),
  }
}

/**
 * A public service's EndpointSlice: the ready addresses, chosen as parseEndpointSlice chooses endpoints
 * (a slice without a port named in `portNames` gives none, as Knative's healthyAddresses wants the
 * revision's port), without the port.
 */
export function parsePublicEndpointSlice (obj: unknown, revisionLabel: string, portNames: readonly string[]): PublicSliceInfo | null {
  const ref = objectRef(obj)
  if (ref === null || !isRecord(obj)) return null
  const addresses = pickPort(obj.ports, portNames) === null ? [] : readyAddresses(obj)
  return { namespace: ref.namespace, name: ref.name, revision: revisionOf(obj, revisionLabel), addresses }
}

/** A revision's private Service (mesh-compatibility-mode): where its ClusterIP takes requests. */
export interface PrivateServiceInfo extends ObjectRef {
  /** Value of the revision label; null = not a revision's service (ignored). */
  readonly revision: string | null
  /** `clusterIP:port` (`[ip]:port` for IPv6) on the first port named in `portNames`; null without a ClusterIP (headless) or such a port. */
  readonly dest: string | null
}

/**
 * A v1 Service as Knative's getDest reads it (revision_backends.go): spec.clusterIP and the port named
 * for the revision's protocol (`http`, or `http2` for h2c: the private service has only one of them).
 */
export function parsePrivateService (obj: unknown, revisionLabel: string, portNames: readonly string[]): PrivateServiceInfo | null {
  const ref = objectRef(obj)
  if (ref === null || !isRecord(obj)) return null
  const spec = isRecord(obj.spec) ? obj.spec : {}
  const ip = spec.clusterIP
  const port = pickPort(spec.ports, portNames)
  let dest: string | null = null
  if (typeof ip === 'string' && port !== null) {
    if (isIPv4(ip)) dest = `${ip}:${port}`
    else if (isIPv6(ip)) dest = `[${ip}]:${port}`
  }
  return { namespace: ref.namespace, name: ref.name, revision: revisionOf(obj, revisionLabel), dest }
}

/** A serving.knative.dev/v1 Revision: the fields the activator needs. */
export function parseKnativeRevision (obj: unknown): KnativeRevisionInfo | null {
  const ref = objectRef(obj)
  if (ref === null || !isRecord(obj)) return null
  const spec = isRecord(obj.spec) ? obj.spec : {}
  const cc = spec.containerConcurrency
  const timeout = spec.timeoutSeconds
  return {
    namespace: ref.namespace,
    name: ref.name,
    containerConcurrency: typeof cc === 'number' && Number.isInteger(cc) && cc >= 0 ? cc : null,
    timeoutSeconds: typeof timeout === 'number' && Number.isInteger(timeout) && timeout > 0 ? timeout : null,
    responseStartTimeoutSeconds: nonNegativeInteger(spec.responseStartTimeoutSeconds),
    idleTimeoutSeconds: nonNegativeInteger(spec.idleTimeoutSeconds),
    probeOptimisation: allowsProbeOptimisation(spec.containers),
  }
}

/**
 * Knative's checks on rev.Spec.GetContainer() and GetSidecarContainers(): with one container it
 * serves; with several, the first one with ports serves and those without ports are sidecars.
 */
function allowsProbeOptimisation (containers: unknown): boolean {
  if (!Array.isArray(containers) || containers.length === 0) return true
  const list: Array<Record<string, unknown>> = containers.filter(isRecord)
  const hasPorts = (c: Record<string, unknown>): boolean => Array.isArray(c.ports) && c.ports.length > 0
  const serving = list.length === 1 ? list[0] : list.find(hasPorts)
  if (serving !== undefined) {
    if (isRecord(serving.readinessProbe) && isRecord(serving.readinessProbe.exec)) return false
    if (isRecord(serving.startupProbe)) return false
  }
  if (list.length > 1) {
    for (const c of list) if (!hasPorts(c) && isRecord(c.startupProbe)) return false
  }
  return true
}

function nonNegativeInteger (v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null
}

function revisionOf (obj: Record<string, unknown>, revisionLabel: string): string | null {
  const labels = isRecord(obj.metadata) ? obj.metadata.labels : undefined
  const value = isRecord(labels) ? labels[revisionLabel] : undefined
  return typeof value === 'string' && value !== '' ? value : null
}

/** First address of each endpoint not explicitly unready, valid for the slice's addressType; sorted, unique. */
function readyAddresses (obj: Record<string, unknown>): string[] {
  return addressesWhere(obj, isReady)
}

/** `conditions.ready` nil means ready (the API's rule for consumers). */
function isReady (conditions: Record<string, unknown>): boolean {
  return conditions.ready !== false
}

/** Unready and not on its way out (the Endpoints controller's notReadyAddresses). */
function isNotReady (conditions: Record<string, unknown>): boolean {
  return conditions.ready === false && conditions.terminating !== true
}

const NO_CONDITIONS: Record<string, unknown> = Object.freeze({})

/** First address of each endpoint whose conditions pass `keep`, valid for the slice's addressType; sorted, unique. */
function addressesWhere (obj: Record<string, unknown>, keep: (conditions: Record<string, unknown>) => boolean): string[] {
  const addressType = obj.addressType
  if ((addressType !== 'IPv4' && addressType !== 'IPv6') || !Array.isArray(obj.endpoints)) return []
  const isValid = addressType === 'IPv4' ? isIPv4 : isIPv6
  const out = new Set<string>()
  for (const endpoint of obj.endpoints) {
    if (!isRecord(endpoint)) continue
    if (!keep(isRecord(endpoint.conditions) ? endpoint.conditions : NO_CONDITIONS)) continue
    if (!Array.isArray(endpoint.addresses) || endpoint.addresses.length === 0) continue
    const address: unknown = endpoint.addresses[0]
    if (typeof address === 'string' && isValid(address)) out.add(address)
  }
  return [...out].sort()
}

function pickPort (ports: unknown, names: readonly string[]): number | null {
  if (!Array.isArray(ports)) return null
  for (const wanted of names) {
    for (const p of ports) {
      if (!isRecord(p) || p.name !== wanted) continue
      const port = p.port
      if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) return port
    }
  }
  return null
}

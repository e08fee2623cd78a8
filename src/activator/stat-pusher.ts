// The activator's side of the stats push (Knative's activator stat_reporter.go + knative.dev/pkg
// websocket connection): batches of per-revision Stats go to the autoscaler over one websocket,
// as `knative` binary frames (WireStatMessages protobuf, so Knative's own autoscaler can take
// them) or `json` text frames (docs/stats-protocol.md, for autoscalers in any language).
//
// Differences from Knative, on purpose:
// - Knative drops a batch sent while disconnected. Here the latest stat of each revision is kept
//   (a bounded map, oldest revision evicted first) and flushed as one batch when the connection
//   opens again, so an autoscaler restart loses at most the periods it was down for, and a
//   cold-start poke sent during a reconnect is not lost.
// - The reconnect backoff is capped at 400 ms (+50% jitter) instead of growing to ~20 s, so a
//   restarted autoscaler gets stats within a second.
// - Backpressure: if the socket has more than `maxBufferedBytes` queued (a stalled autoscaler),
//   batches go to the same latest-per-revision map instead of growing the socket buffer.
//
// send() is called on the activator's event loop (every second, and at once for a poke), so it
// never blocks and never throws: an open socket gets the frame written now (Nagle is off),
// anything else goes to the map.
//
// The websocket is Sluice's own client (websocket/websocket-client.ts), not `ws`'s: `ws` loads
// node:http, https, tls, crypto and zlib, +11 MB RSS and ~25 ms for every activator in Knative,
// where the autoscaler URL is always set (loadtest/results/memory-findings-2026-12-06.md).

import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import { encodeStatMessagesJson } from '../stats/stat-json-wire.ts'
import { encodeWireStatMessages } from '../stats/stat-proto.ts'
import type { Stat, WireStatMessage } from '../stats/stat.ts'
import { WebSocketClient, WS_CLOSED, WS_CONNECTING, type WebSocketClientOptions, type WebSocketHandler } from '../websocket/websocket-client.ts'
import type { StatSink } from './concurrency-reporter.ts'
import { DEFAULT_BACKOFF, ReconnectBackoff, type BackoffOptions } from './reconnect-backoff.ts'

export type StatsProtocol = 'knative' | 'json'

/** Knative: 3 s handshake timeout. */
export const HANDSHAKE_TIMEOUT_MS = 3_000
/** Knative pings every ~3.3 s (pongWait x 9/10 / 3) ... */
export const PING_INTERVAL_MS = 3_333
/** ... and gives up on a peer silent for 10 s. */
export const DEAD_PEER_MS = 10_000
/** Revisions kept while disconnected; beyond it the least recently updated is dropped. */
export const MAX_PENDING_REVISIONS = 4_096
/** Bytes queued on the socket beyond which batches are held in the map instead. */
export const MAX_BUFFERED_BYTES = 1024 * 1024
/** The autoscaler sends no data messages (Knative's stat server only reads); anything larger is a broken peer. */
export const MAX_INBOUND_MESSAGE_BYTES = 64 * 1024
/** How long close() waits for the autoscaler's close frame before dropping the connection. */
export const CLOSE_TIMEOUT_MS = 1_000

export interface StatPusherOptions {
  /** ws:// or wss:// URL of the autoscaler's stat server (any path). */
  readonly url: string
  readonly protocol: StatsProtocol
  readonly logger?: Logger | null
  readonly clock?: Clock
  readonly timers?: Timers
  readonly random?: () => number
  readonly backoff?: BackoffOptions
  readonly handshakeTimeoutMs?: number
  readonly pingIntervalMs?: number
  readonly deadPeerMs?: number
  readonly maxPendingRevisions?: number
  readonly maxBufferedBytes?: number
  /** wss:// only: TLS options over Node's defaults (a private CA). The CLI passes none, as `ws` got none. */
  readonly tls?: WebSocketClientOptions['tls']
}

/** Counters for metrics and tests. */
export interface StatPusherCounters {
  /** Frames written to an open socket. */
  framesSent: number
  /** Messages in those frames. */
  messagesSent: number
  /** Messages replaced in the map by a newer stat of the same revision while disconnected. */
  messagesCoalesced: number
  /** Revisions evicted from a full map. */
  revisionsDropped: number
  /** Connections opened (the first one included). */
  connects: number
  /** Batches whose encoding failed (a bug; logged). */
  encodeErrors: number
}

/**
 * Told when the websocket opens and when an open one goes down (Knative's WithOnConnect /
 * WithOnDisconnect: OpenTelemetry's kn.activator.stats.conn.*). Failed dials are not
 * disconnects, as in knative.dev/pkg, where they retry inside connect().
 */
export interface StatConnectionObserver {
  onAutoscalerConnect (): void
  onAutoscalerDisconnect (): void
}

type State = 'idle' | 'connecting' | 'open' | 'closed'

function copyStat (s: Stat): Stat {
  return {
    podName: s.podName,
    averageConcurrentRequests: s.averageConcurrentRequests,
    averageProxiedConcurrentRequests: s.averageProxiedConcurrentRequests,
    requestCount: s.requestCount,
    proxiedRequestCount: s.proxiedRequestCount,
    processUptime: s.processUptime,
    timestamp: s.timestamp,
  }
}

export class StatPusher implements StatSink {
  readonly url: string
  readonly protocol: StatsProtocol
  readonly counters: StatPusherCounters
  readonly #logger: Logger | null
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #backoff: ReconnectBackoff
  readonly #handshakeTimeoutMs: number
  readonly #pingIntervalMs: number
  readonly #deadPeerMs: number
  readonly #maxPending: number
  readonly #maxBufferedBytes: number
  /** Latest stat per revision (key namespace/name) not yet written; insertion order = recency. */
  readonly #pending: Map<string, WireStatMessage>
  #state: State
  #ws: WebSocketClient | null
  /** The socket close() is closing, until it is down. */
  #closing: WebSocketClient | null
  #reconnectTimer: TimerHandle | null
  #livenessTimer: TimerHandle | null
  /** Last time the peer showed it is alive (open, pong or message), ms. */
  #lastSeenMs: number
  /** What was last logged, so each state change is logged once (not every failed attempt). */
  #logged: 'connected' | 'disconnected' | null
  #closed: Promise<void> | null
  /** Resolves close()'s promise when the socket it closes is down. */
  #onClosed: (() => void) | null
  #observer: StatConnectionObserver | null
  readonly #tls: WebSocketClientOptions['tls']
  /** The sockets' handler, made once (each call says which socket; stale ones are ignored). */
  readonly #socketHandler: WebSocketHandler

  constructor (options: StatPusherOptions) {
    this.url = options.url
    this.protocol = options.protocol
    this.counters = { framesSent: 0, messagesSent: 0, messagesCoalesced: 0, revisionsDropped: 0, connects: 0, encodeErrors: 0 }
    this.#logger = options.logger ?? null
    this.#clock = options.clock ?? realClock
    this.#timers = options.timers ?? realTimers
    this.#backoff = new ReconnectBackoff(options.backoff ?? DEFAULT_BACKOFF, options.random ?? Math.random)
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS
    this.#pingIntervalMs = options.pingIntervalMs ?? PING_INTERVAL_MS
    this.#deadPeerMs = options.deadPeerMs ?? DEAD_PEER_MS
    this.#maxPending = options.maxPendingRevisions ?? MAX_PENDING_REVISIONS
    this.#maxBufferedBytes = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES
    this.#pending = new Map()
    this.#state = 'idle'
    this.#ws = null
    this.#closing = null
    this.#reconnectTimer = null
    this.#livenessTimer = null
    this.#lastSeenMs = 0
    this.#logged = null
    this.#closed = null
    this.#onClosed = null
    this.#observer = null
    this.#tls = options.tls ?? null
    this.#socketHandler = {
      onWebSocketOpen: (ws) => { this.#onOpen(ws) },
      onWebSocketPong: () => { this.#lastSeenMs = this.#clock.nowMs() },
      onWebSocketMessage: () => { this.#lastSeenMs = this.#clock.nowMs() },
      onWebSocketClose: (ws, code, reason, err) => {
        if (ws === this.#closing) { this.#closing = null; this.#onClosed?.(); return }
        this.#onDown(ws, err, code, reason)
      },
    }
  }

  /**
   * Reports connects and disconnects to `observer` from now on; told at once if the socket is
   * already open (OpenTelemetry loads after the pusher started dialling).
   */
  observe (observer: StatConnectionObserver | null): void {
    this.#observer = observer
    if (observer !== null && this.#state === 'open') observer.onAutoscalerConnect()
  }

  /** Whether the websocket is open right now. */
  get connected (): boolean { return this.#state === 'open' }

  /** Whether it is waiting out the reconnect backoff (no connection attempt under way). */
  get isWaitingToReconnect (): boolean { return this.#reconnectTimer !== null }

  /** Revisions waiting for the connection (bounded by maxPendingRevisions). */
  get pendingSize (): number { return this.#pending.size }

  /** Opens the connection (and keeps reopening it until close()). */
  start (): void {
    if (this.#state !== 'idle') return
    this.#connect()
  }

  send (messages: readonly WireStatMessage[]): void {
    if (messages.length === 0) return
    const ws = this.#ws
    if (this.#state === 'open' && ws !== null && ws.bufferedAmount <= this.#maxBufferedBytes) {
      if (this.#pending.size === 0) {
        this.#write(ws, messages)
        return
      }
      // Held-back revisions ride along with this batch (this batch's stats are newer).
      this.#hold(messages)
      this.#flush()
      return
    }
    if (this.#state !== 'closed') this.#hold(messages)
  }

  /** Stops reconnecting and closes the socket (close code 1001, going away). Idempotent. */
  close (): Promise<void> {
    if (this.#closed !== null) return this.#closed
    // knative.dev/pkg's Shutdown ends keepalive with an error, so OnDisconnect runs for an open socket.
    if (this.#state === 'open') this.#observer?.onAutoscalerDisconnect()
    this.#state = 'closed'
    this.#reconnectTimer?.cancel()
    this.#reconnectTimer = null
    this.#stopLiveness()
    const ws = this.#ws
    this.#ws = null
    this.#pending.clear()
    if (ws === null || ws.readyState === WS_CLOSED) {
      this.#closed = Promise.resolve()
      return this.#closed
    }
    // The client's own close timeout (CLOSE_TIMEOUT_MS) bounds the wait for the autoscaler's answer.
    this.#closing = ws
    this.#closed = new Promise<void>((resolve) => { this.#onClosed = resolve })
    if (ws.readyState === WS_CONNECTING) ws.terminate()
    else ws.close(1001, 'activator shutting down')
    return this.#closed
  }

  #hold (messages: readonly WireStatMessage[]): void {
    for (const m of messages) {
      if (m.stat === null) continue
      const key = m.namespace + '/' + m.name
      if (this.#pending.delete(key)) this.counters.messagesCoalesced++
      this.#pending.set(key, { namespace: m.namespace, name: m.name, stat: copyStat(m.stat) })
      if (this.#pending.size > this.#maxPending) {
        const oldest = this.#pending.keys().next()
        if (oldest.done !== true) {
          this.#pending.delete(oldest.value)
          this.counters.revisionsDropped++
        }
      }
    }
  }

  #flush (): void {
    const ws = this.#ws
    if (ws === null || this.#state !== 'open' || this.#pending.size === 0) return
    const batch = Array.from(this.#pending.values())
    this.#pending.clear()
    this.#write(ws, batch)
  }

  #write (ws: WebSocketClient, messages: readonly WireStatMessage[]): void {
    let frame: Buffer | string
    try {
      frame = this.protocol === 'knative' ? encodeWireStatMessages(messages) : encodeStatMessagesJson(messages)
    } catch (err) {
      this.counters.encodeErrors++
      this.#logger?.error({ err }, 'cannot encode stats batch')
      return
    }
    // A failed write surfaces as the socket's close, which reconnects; a socket no longer open
    // (closing) sends nothing and the batch waits for the next connection.
    if (ws.send(frame)) {
      this.counters.framesSent++
      this.counters.messagesSent += messages.length
    } else {
      this.#hold(messages)
    }
  }

  #connect (): void {
    this.#state = 'connecting'
    let ws: WebSocketClient
    try {
      ws = new WebSocketClient(this.url, this.#socketHandler, {
        handshakeTimeoutMs: this.#handshakeTimeoutMs,
        closeTimeoutMs: CLOSE_TIMEOUT_MS,
        maxMessageBytes: MAX_INBOUND_MESSAGE_BYTES,
        timers: this.#timers,
        tls: this.#tls,
      })
    } catch (err) {
      // An invalid URL is a configuration error caught at start; keep retrying anyway, logged once.
      this.#onDown(null, err)
      return
    }
    this.#ws = ws
    ws.connect()
  }

  #onOpen (ws: WebSocketClient): void {
    if (this.#ws !== ws || this.#state !== 'connecting') return
    this.#state = 'open'
    this.counters.connects++
    this.#backoff.reset()
    this.#lastSeenMs = this.#clock.nowMs()
    if (this.#logged !== 'connected') {
      this.#logger?.info({ url: this.url, protocol: this.protocol, held: this.#pending.size }, 'connected to autoscaler')
      this.#logged = 'connected'
    }
    this.#livenessTimer = this.#timers.setInterval(() => { this.#checkLiveness(ws) }, this.#pingIntervalMs)
    this.#observer?.onAutoscalerConnect()
    this.#flush()
  }

  #checkLiveness (ws: WebSocketClient): void {
    if (this.#ws !== ws || this.#state !== 'open') return
    if (this.#clock.nowMs() - this.#lastSeenMs > this.#deadPeerMs) {
      this.#logger?.debug({ silentMs: Math.round(this.#clock.nowMs() - this.#lastSeenMs) }, 'autoscaler stopped answering pings')
      ws.terminate()
      return
    }
    ws.ping()
  }

  #stopLiveness (): void {
    this.#livenessTimer?.cancel()
    this.#livenessTimer = null
  }

  #onDown (ws: WebSocketClient | null, err: unknown, code = 0, reason = ''): void {
    if (ws !== null && this.#ws !== ws) return
    this.#ws = null
    this.#stopLiveness()
    if (this.#state === 'closed') return
    if (this.#state === 'open') this.#observer?.onAutoscalerDisconnect()
    this.#state = 'connecting'
    if (this.#logged !== 'disconnected') {
      const fields = { url: this.url, code, reason, err }
      if (this.#logged === 'connected') this.#logger?.warn(fields, 'disconnected from autoscaler; reconnecting')
      else this.#logger?.warn(fields, 'cannot reach autoscaler; retrying')
      this.#logged = 'disconnected'
    } else if (this.#logger?.isLevelEnabled('debug') === true) {
      // Each later failure at debug only: a down autoscaler would otherwise log ~3 lines a second.
      this.#logger.debug({ url: this.url, code, reason, err }, 'autoscaler connection attempt failed')
    }
    const delayMs = this.#backoff.next()
    this.#reconnectTimer = this.#timers.setTimeout(() => {
      this.#reconnectTimer = null
      if (this.#state === 'connecting') this.#connect()
    }, delayMs)
  }
}

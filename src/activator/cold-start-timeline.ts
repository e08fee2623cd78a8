// The last cold start of one revision as wall-clock instants, for whoever lines it up with events
// seen elsewhere (`sluice up` puts it beside its pod's spawn and readiness on the status page).
// Wall-clock, not monotonic: the other events come from other processes, and the system clock is
// the one time base they share. Durations inside the activator keep using the monotonic clock.
//
// One object per revision, reused: begin() clears it, the rest fill it in as the cold start goes.

/** Not yet (or not in this cold start). */
export const NOT_YET = -1

export class ColdStartTimeline {
  /** The first request buffered while no endpoint was ready, epoch ms. */
  requestWallMs: number
  /** The ready endpoint count went from 0 to > 0 (the activator's probe passed), epoch ms. */
  endpointReadyWallMs: number
  /** The first buffered request was sent to the endpoint, epoch ms. */
  forwardedWallMs: number
  /** That request's response started (its first byte back at the activator), epoch ms. */
  firstByteWallMs: number

  constructor () {
    this.requestWallMs = NOT_YET
    this.endpointReadyWallMs = NOT_YET
    this.forwardedWallMs = NOT_YET
    this.firstByteWallMs = NOT_YET
  }

  get hasRequest (): boolean { return this.requestWallMs !== NOT_YET }

  begin (wallMs: number): void {
    this.requestWallMs = wallMs
    this.endpointReadyWallMs = NOT_YET
    this.forwardedWallMs = NOT_YET
    this.firstByteWallMs = NOT_YET
  }
}

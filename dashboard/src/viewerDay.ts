// The viewer's day on the wall: the one the node means (its snapshot holds the
// alerts raised since the viewer's midnight, signaling's alertsSince), from the
// same code (proto's viewer-day: midnight in their zone, through DST). A wall
// left open (a kiosk overnight) must leave yesterday's alerts at midnight as a
// fresh snapshot would; one timer to the next midnight does that, checked again
// whenever it fires (late after a sleep) or the wall asks (the page shown again).
import { isTimeZone, type ViewerDay, viewerDayEdges } from "@parley/proto/viewer-day";

/** What Subscribe and the figures' requests say of the viewer's day. */
export interface ViewerZone {
  /** Their offset from UTC now, for a node that does not know their zone. */
  utcOffsetMinutes: number;
  /** Their IANA zone: days follow its clock changes. */
  timeZone: string;
}

/** This browser's zone. */
export const viewerZone = (): ViewerZone => ({
  utcOffsetMinutes: -new Date().getTimezoneOffset(),
  timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
});

/** The viewer's day around `nowMs` as the node has it (the zone if known, else the offset): [startMs, endMs). */
export function dayAround(zone: ViewerZone, nowMs: number): { startMs: number; endMs: number } {
  const day: ViewerDay = { nowMs, utcOffsetMinutes: zone.utcOffsetMinutes };
  if (zone.timeZone && isTimeZone(zone.timeZone)) day.timeZone = zone.timeZone;
  const [startMs, endMs] = viewerDayEdges(day, 1) as [number, number];
  return { startMs, endMs };
}

export interface Timers {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const BROWSER_TIMERS: Timers = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/**
 * Tells the wall when the viewer's day changes: one timer, to the next
 * midnight, re-armed each time. A timer runs late after the machine slept, and
 * its clock may jump; so every check reads the clock afresh rather than
 * counting days, and `check()` may be called at any time (the page shown again,
 * a snapshot with the node's clock).
 */
export class ViewerDayWatch {
  readonly #now: () => number;
  readonly #zone: () => ViewerZone;
  readonly #onNewDay: (startMs: number) => void;
  readonly #timers: Timers;
  #startMs: number;
  #timer: unknown;
  /** A late snapshot or alert after the wall closed must not arm the daily timer again. */
  #stopped = false;

  constructor(options: {
    /** The node's clock (alerts carry its times). */
    now: () => number;
    zone: () => ViewerZone;
    /** The start of the viewer's new day (also when their clock went back to an earlier one). */
    onNewDay: (startMs: number) => void;
    timers?: Timers;
  }) {
    this.#now = options.now;
    this.#zone = options.zone;
    this.#onNewDay = options.onNewDay;
    this.#timers = options.timers ?? BROWSER_TIMERS;
    this.#startMs = this.#arm();
  }

  /** The start of the viewer's day as last checked. */
  get startMs(): number {
    return this.#startMs;
  }

  /** Reads the clock: a day other than the last one checked is told; the timer is armed again. */
  check(): void {
    if (this.#stopped) return;
    const startMs = this.#arm();
    if (startMs === this.#startMs) return;
    this.#startMs = startMs;
    this.#onNewDay(startMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Arms the timer to the end of the day now; returns the day's start. */
  #arm(): number {
    const nowMs = this.#now();
    const { startMs, endMs } = dayAround(this.#zone(), nowMs);
    this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(() => this.check(), endMs - nowMs);
    return startMs;
  }
}

// A wall left open leaves the day before's alerts at the viewer's midnight (in
// their zone, through DST changes), as a fresh snapshot would, and keeps the
// new day's: on a clock the test turns, with timers that run when it says.
import { create } from "@bufbuild/protobuf";
import { type Alert, AlertKind, AlertSchema } from "@parley/proto/wall";
import { describe, expect, it } from "vitest";
import { todaysAlerts } from "../src/state.ts";
import { type Timers, ViewerDayWatch, type ViewerZone } from "../src/viewerDay.ts";

const at = (iso: string) => Date.parse(iso);

/** A clock and its timers: time passes awake (each timer runs when due) or asleep (they run late, on waking). */
class FakeClock implements Timers {
  nowMs: number;
  readonly #timers = new Map<number, { dueMs: number; run: () => void }>();
  #next = 1;

  constructor(iso: string) {
    this.nowMs = at(iso);
  }

  readonly now = () => this.nowMs;

  setTimeout(run: () => void, ms: number): number {
    this.#timers.set(this.#next, { dueMs: this.nowMs + ms, run });
    return this.#next++;
  }

  clearTimeout(timer: unknown): void {
    this.#timers.delete(timer as number);
  }

  /** The times the armed timers are due at. */
  get armed(): number[] {
    return [...this.#timers.values()].map((t) => t.dueMs);
  }

  /** Awake until `iso`: every timer due meanwhile runs at its time. */
  passTo(iso: string): void {
    const until = at(iso);
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.dueMs <= until).sort(([, a], [, b]) => a.dueMs - b.dueMs)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.nowMs = Math.max(this.nowMs, due[1].dueMs);
      due[1].run();
    }
    this.nowMs = until;
  }

  /** Asleep until `iso` (a laptop's lid shut): nothing runs; timers due meanwhile run when `wake` says. */
  sleepTo(iso: string): void {
    this.nowMs = at(iso);
  }

  /** The timers that came due while asleep run now, late. */
  wake(): void {
    for (const [id, t] of [...this.#timers]) {
      if (t.dueMs > this.nowMs) continue;
      this.#timers.delete(id);
      t.run();
    }
  }
}

let n = 0;
const alert = (iso: string): Alert =>
  create(AlertSchema, {
    id: `alert-${++n}`,
    kind: AlertKind.LOW_SCORE,
    storeCode: "demo",
    score: 12,
    atMs: BigInt(at(iso)),
  });

/** The zone's offset from UTC at `ms` in minutes, as a browser's getTimezoneOffset has it then. */
function offsetAt(timeZone: string, ms: number): number {
  const name = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
    .formatToParts(ms)
    .find((p) => p.type === "timeZoneName")!.value; // "GMT-04:00", or "GMT" at UTC
  const [, sign, hours, minutes] = /GMT([+-])(\d\d):(\d\d)/.exec(name) ?? ["", "+", "0", "0"];
  return (sign === "-" ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
}

/**
 * The wall's alerts as Wall.tsx holds them: a list the watch's new day trims. The viewer's zone
 * as their browser states it (the offset that holds at the moment), or only an offset.
 */
function wall(clock: FakeClock, timeZone: string, fixedOffsetMinutes?: number) {
  const shown = { alerts: [] as Alert[] };
  const zone = (): ViewerZone => ({
    timeZone,
    utcOffsetMinutes: fixedOffsetMinutes ?? offsetAt(timeZone, clock.nowMs),
  });
  const watch = new ViewerDayWatch({
    now: clock.now,
    zone,
    timers: clock,
    onNewDay: (startMs) => {
      shown.alerts = todaysAlerts(shown.alerts, startMs);
    },
  });
  const raise = (a: Alert) => {
    shown.alerts = [a, ...shown.alerts];
    return a;
  };
  const ids = () => shown.alerts.map((a) => a.id);
  return { watch, raise, ids };
}

describe("the wall's alerts over the viewer's midnight", () => {
  it("leave at midnight in the viewer's zone, not UTC's, and the new day's stay", () => {
    // Stockholm in winter is UTC+1: its midnight is 23:00 UTC.
    const clock = new FakeClock("2026-01-15T21:00:00Z");
    const { raise, ids } = wall(clock, "Europe/Stockholm");
    const evening = raise(alert("2026-01-15T20:30:00Z"));
    const late = raise(alert("2026-01-15T22:59:00Z"));
    // One timer, to the viewer's next midnight: no poll.
    expect(clock.armed).toEqual([at("2026-01-15T23:00:00Z")]);

    clock.passTo("2026-01-15T22:59:59.999Z");
    expect(ids()).toEqual([late.id, evening.id]);
    clock.passTo("2026-01-15T23:00:00Z");
    expect(ids()).toEqual([]);
    // Re-armed to the next midnight.
    expect(clock.armed).toEqual([at("2026-01-16T23:00:00Z")]);

    const morning = raise(alert("2026-01-16T07:00:00Z"));
    // UTC's midnight passes: still the viewer's day.
    clock.passTo("2026-01-16T12:00:00Z");
    expect(ids()).toEqual([morning.id]);
    clock.passTo("2026-01-16T23:00:00Z");
    expect(ids()).toEqual([]);
  });

  it("keep the whole of a 25-hour day's alerts and leave on time after a 23-hour one", () => {
    // New York falls back on 1 November 2026 at 02:00: midnight EDT (04:00 UTC), then midnight EST (05:00 UTC).
    const ny = new FakeClock("2026-11-01T03:50:00Z"); // 23:50 EDT, 31 October
    const autumn = wall(ny, "America/New_York");
    autumn.raise(alert("2026-11-01T03:45:00Z"));
    ny.passTo("2026-11-01T04:00:00Z");
    expect(autumn.ids()).toEqual([]);
    const earlyOnLongDay = autumn.raise(alert("2026-11-01T04:30:00Z")); // 00:30 EDT
    // After the clocks went back, the page shown again: the same day, begun at midnight EDT.
    ny.passTo("2026-11-01T17:00:00Z");
    autumn.watch.check();
    const lateOnLongDay = autumn.raise(alert("2026-11-02T04:30:00Z")); // 23:30 EST
    // 24 hours after the day began, and after: still the same day.
    ny.passTo("2026-11-02T04:59:59Z");
    expect(autumn.ids()).toEqual([lateOnLongDay.id, earlyOnLongDay.id]);
    ny.passTo("2026-11-02T05:00:00Z");
    expect(autumn.ids()).toEqual([]);

    // Stockholm springs forward on 29 March 2026 at 02:00: midnight CET (23:00 UTC), then CEST (22:00 UTC).
    const stockholm = new FakeClock("2026-03-28T23:30:00Z"); // 00:30 CET, 29 March
    const spring = wall(stockholm, "Europe/Stockholm");
    expect(stockholm.armed).toEqual([at("2026-03-29T22:00:00Z")]);
    spring.raise(alert("2026-03-29T21:30:00Z")); // 23:30 CEST
    stockholm.passTo("2026-03-29T22:00:00Z");
    expect(spring.ids()).toEqual([]);
    expect(stockholm.armed).toEqual([at("2026-03-30T22:00:00Z")]);
  });

  it("leave on waking after a sleep past midnight, by the late timer or a check, and the timer goes on from today", () => {
    const clock = new FakeClock("2026-01-15T21:00:00Z");
    const { watch, raise, ids } = wall(clock, "Europe/Stockholm");
    raise(alert("2026-01-15T20:30:00Z"));
    // Asleep over two midnights; the page is shown again before its timer runs.
    clock.sleepTo("2026-01-17T07:00:00Z");
    watch.check();
    expect(ids()).toEqual([]);
    expect(clock.armed).toEqual([at("2026-01-17T23:00:00Z")]);

    // Asleep again past midnight: this time the late timer finds it.
    const evening = raise(alert("2026-01-17T20:00:00Z"));
    clock.sleepTo("2026-01-18T06:00:00Z");
    expect(ids()).toEqual([evening.id]);
    clock.wake();
    expect(ids()).toEqual([]);
    expect(clock.armed).toEqual([at("2026-01-18T23:00:00Z")]);
  });

  it("follow the viewer's offset where the zone is unknown, as the node does", () => {
    const clock = new FakeClock("2026-06-01T12:00:00Z");
    const { raise, ids, watch } = wall(clock, "", 330); // Kolkata's offset: midnight at 18:30 UTC
    raise(alert("2026-06-01T18:00:00Z"));
    expect(watch.startMs).toBe(at("2026-05-31T18:30:00Z"));
    clock.passTo("2026-06-01T18:30:00Z");
    expect(ids()).toEqual([]);
    expect(watch.startMs).toBe(at("2026-06-01T18:30:00Z"));
  });

  it("stay stopped once the wall closed: a late check arms no timer", () => {
    const clock = new FakeClock("2026-01-15T21:00:00Z");
    const { watch } = wall(clock, "Europe/Stockholm");
    watch.stop();
    expect(clock.armed).toEqual([]);
    watch.check(); // a snapshot or alert handled after the wall's cleanup
    expect(clock.armed).toEqual([]);
  });
});

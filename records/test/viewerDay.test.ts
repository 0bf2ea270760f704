// The wall's days as its viewer lives them: midnight where the viewer's clock
// showed it, through daylight saving time changes, and the old offset rule
// for dashboards that send no zone.
import { describe, expect, it } from "vitest";
import { isTimeZone, viewerDayStart } from "../src/index.ts";
import { viewerDayEdges, viewerHourEdges } from "../src/queries/viewerDay.ts";

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);
const stockholm = (nowIso: string) => ({ nowMs: at(nowIso), utcOffsetMinutes: 0, timeZone: "Europe/Stockholm" });

describe("the viewer's day", () => {
  it("starts at the viewer's midnight, in winter and in summer", () => {
    expect(viewerDayStart(stockholm("2026-01-15T12:00:00Z"))).toBe(at("2026-01-14T23:00:00Z"));
    expect(viewerDayStart(stockholm("2026-07-15T12:00:00Z"))).toBe(at("2026-07-14T22:00:00Z"));
    // Just after midnight in Stockholm, still the day before in UTC.
    expect(viewerDayStart(stockholm("2026-07-14T22:30:00Z"))).toBe(at("2026-07-14T22:00:00Z"));
    expect(viewerDayStart(stockholm("2026-07-14T21:59:59Z"))).toBe(at("2026-07-13T22:00:00Z"));
  });

  it("has 23 hours on the spring day and 25 on the autumn day, hour by hour", () => {
    // Clocks go forward on 2026-03-29 and back on 2026-10-25 in Europe/Stockholm.
    const spring = viewerHourEdges(stockholm("2026-03-29T10:00:00Z"));
    expect(spring).toHaveLength(23 + 1);
    expect(spring[0]).toBe(at("2026-03-28T23:00:00Z"));
    expect(spring.at(-1)).toBe(at("2026-03-29T22:00:00Z"));
    const autumn = viewerHourEdges(stockholm("2026-10-25T10:00:00Z"));
    expect(autumn).toHaveLength(25 + 1);
    expect(autumn[0]).toBe(at("2026-10-24T22:00:00Z"));
    expect(autumn.at(-1)).toBe(at("2026-10-25T23:00:00Z"));
    expect(viewerHourEdges(stockholm("2026-10-26T10:00:00Z"))).toHaveLength(24 + 1);
  });

  it("puts last week's midnights where the clock showed them across a change, not at today's offset", () => {
    // Monday after the spring change: the week before began on winter time.
    const day = stockholm("2026-03-30T10:00:00Z");
    const edges = viewerDayEdges(day, 7);
    expect(edges).toHaveLength(8);
    expect(edges[0]).toBe(at("2026-03-23T23:00:00Z")); // Tuesday 00:00, UTC+1
    expect(edges.at(-2)).toBe(at("2026-03-29T22:00:00Z")); // today 00:00, UTC+2
    expect(edges.at(-1)).toBe(at("2026-03-30T22:00:00Z"));
    const widths = edges.slice(1).map((e, i) => (e - edges[i]!) / HOUR);
    expect(widths).toEqual([24, 24, 24, 24, 24, 23, 24]);
    expect(viewerDayStart(day, 7)).toBe(at("2026-03-22T23:00:00Z"));
  });

  it("handles zones east and west, with half-hour offsets", () => {
    const kolkata = { nowMs: at("2026-06-01T20:00:00Z"), utcOffsetMinutes: 0, timeZone: "Asia/Kolkata" };
    expect(viewerDayStart(kolkata)).toBe(at("2026-06-01T18:30:00Z"));
    const ny = { nowMs: at("2026-11-01T12:00:00Z"), utcOffsetMinutes: 0, timeZone: "America/New_York" };
    expect(viewerDayStart(ny)).toBe(at("2026-11-01T04:00:00Z")); // EDT midnight; clocks go back at 2:00
    expect(viewerHourEdges(ny)).toHaveLength(25 + 1);
  });

  it("uses the viewer's offset when no zone is given, as older dashboards ask", () => {
    const day = { nowMs: at("2026-07-15T12:00:00Z"), utcOffsetMinutes: 120 };
    expect(viewerDayStart(day)).toBe(at("2026-07-14T22:00:00Z"));
    expect(viewerDayStart(day, 7)).toBe(at("2026-07-07T22:00:00Z"));
    expect(viewerHourEdges(day)).toHaveLength(24 + 1);
  });

  it("knows IANA zones and refuses anything else", () => {
    expect(isTimeZone("Europe/Stockholm")).toBe(true);
    expect(isTimeZone("UTC")).toBe(true);
    expect(isTimeZone("Mars/Olympus_Mons")).toBe(false);
    expect(isTimeZone("")).toBe(false);
    expect(isTimeZone("x".repeat(65))).toBe(false);
  });
});

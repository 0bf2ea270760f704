// The wall's days as its viewer lives them: midnight where the viewer's clock
// showed it, through daylight saving time changes, and the old offset rule
// for dashboards that send no zone.
import { describe, expect, it } from "vitest";
import { isTimeZone, viewerDayEdges, viewerDayStart, viewerHourEdges } from "../src/viewerDay.ts";

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);
const inZone = (timeZone: string, nowIso: string) => ({ nowMs: at(nowIso), utcOffsetMinutes: 0, timeZone });
const stockholm = (nowIso: string) => inZone("Europe/Stockholm", nowIso);
const santiago = (nowIso: string) => inZone("America/Santiago", nowIso);
const widths = (edges: number[]) => edges.slice(1).map((e, i) => (e - edges[i]!) / HOUR);

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

  it("starts a day whose midnight the clocks skip at the end of the gap (Santiago, 2026-09-06)", () => {
    // Chile's clocks go from 00:00 (UTC-4) to 01:00 (UTC-3) at 2026-09-06T04:00Z: the day starts at 01:00.
    const gapDay = viewerHourEdges(santiago("2026-09-06T12:00:00Z"));
    expect(gapDay).toHaveLength(23 + 1);
    expect(gapDay[0]).toBe(at("2026-09-06T04:00:00Z"));
    expect(gapDay.at(-1)).toBe(at("2026-09-07T03:00:00Z"));
    expect(viewerDayStart(santiago("2026-09-06T04:00:00Z"))).toBe(at("2026-09-06T04:00:00Z"));
    // The last second before the gap is still Saturday, which keeps all its 24 hours.
    expect(viewerDayStart(santiago("2026-09-06T03:59:59Z"))).toBe(at("2026-09-05T04:00:00Z"));
    expect(viewerHourEdges(santiago("2026-09-06T03:59:59Z"))).toHaveLength(24 + 1);
  });

  it("starts the day after Santiago's skipped midnight at midnight, with the short day in last week's edges", () => {
    const day = santiago("2026-09-07T12:00:00Z");
    expect(viewerDayStart(day)).toBe(at("2026-09-07T03:00:00Z"));
    expect(viewerHourEdges(day)).toHaveLength(24 + 1);
    const edges = viewerDayEdges(day, 7);
    expect(edges[0]).toBe(at("2026-09-01T04:00:00Z")); // Tuesday 00:00, UTC-4
    expect(edges.at(-3)).toBe(at("2026-09-06T04:00:00Z")); // Sunday 01:00, UTC-3
    expect(widths(edges)).toEqual([24, 24, 24, 24, 24, 23, 24]);
  });

  it("has 25 hours where daylight saving ends at midnight, and one start for a midnight that comes twice", () => {
    // Santiago 2026-04-04: 24:00 (UTC-3) goes back to 23:00 (UTC-4), so Sunday's midnight comes once.
    const longDay = viewerHourEdges(santiago("2026-04-04T12:00:00Z"));
    expect(longDay).toHaveLength(25 + 1);
    expect(longDay[0]).toBe(at("2026-04-04T03:00:00Z"));
    expect(longDay.at(-1)).toBe(at("2026-04-05T04:00:00Z"));
    expect(viewerHourEdges(santiago("2026-04-05T12:00:00Z"))).toHaveLength(24 + 1);
    // Gaza 2018-10-27 and Havana 2026-11-01: 01:00 goes back to 00:00, the day starts at the first midnight.
    const gaza = inZone("Asia/Gaza", "2018-10-27T12:00:00Z");
    expect(viewerDayStart(gaza)).toBe(at("2018-10-26T21:00:00Z"));
    expect(viewerHourEdges(gaza)).toHaveLength(25 + 1);
    expect(widths(viewerDayEdges(gaza, 2))).toEqual([24, 25]);
    const havana = inZone("America/Havana", "2026-11-01T12:00:00Z");
    expect(viewerDayStart(havana)).toBe(at("2026-11-01T04:00:00Z"));
    expect(viewerHourEdges(havana)).toHaveLength(25 + 1);
  });

  it("gives a day the zone skipped no hours (Apia jumped from 2011-12-29 to 2011-12-31)", () => {
    const edges = viewerDayEdges(inZone("Pacific/Apia", "2011-12-31T12:00:00Z"), 4); // Apia's 2012-01-01
    expect(edges[2]).toBe(at("2011-12-30T10:00:00Z")); // the 30th starts, and ends, where the 31st starts
    expect(widths(edges)).toEqual([24, 0, 24, 24]);
  });

  it("starts every day at the first instant of its date, as Intl reads the zone's clock", () => {
    const zoneYears: [string, number][] = [
      ["America/Santiago", 2026],
      ["America/Havana", 2026],
      ["Asia/Beirut", 2026],
      ["America/Asuncion", 2024],
      ["Africa/Cairo", 2026],
      ["America/Sao_Paulo", 2018],
      ["Atlantic/Azores", 2026],
      ["Asia/Gaza", 2018],
      ["Europe/Stockholm", 2026],
    ];
    const wrong: string[] = [];
    for (const [zone, year] of zoneYears) {
      const dates = new Intl.DateTimeFormat("en-CA", {
        timeZone: zone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
      });
      const date = (ms: number) => dates.format(ms);
      for (let noon = Date.UTC(year, 0, 1, 12); noon < Date.UTC(year + 1, 0, 1); noon += 24 * HOUR) {
        const start = viewerDayStart({ nowMs: noon, utcOffsetMinutes: 0, timeZone: zone });
        const today = date(noon);
        const yesterday = new Date(Date.parse(today) - 24 * HOUR).toISOString().slice(0, 10);
        if (date(start) !== today || date(start - 1) !== yesterday) wrong.push(`${zone} ${today}`);
      }
    }
    expect(wrong).toEqual([]);
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

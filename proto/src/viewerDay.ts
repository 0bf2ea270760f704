// "Today" and the days before it as the wall's viewer lives them. With the
// viewer's IANA zone the day edges follow daylight saving time: the spring
// day has 23 hours, the autumn day 25, and last week's midnights sit where
// the clock showed midnight then, not at today's offset moved back whole days.
// Without a zone (an older dashboard) the viewer's current UTC offset is used.
// The meaning of the wall protocol's Subscribe.utc_offset_minutes and time_zone,
// shared so that the node (records' tiles and trends, the snapshot's alerts) and
// the dashboard (when its alerts of the day leave the screen) have one day.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** "Today" as the viewer's clock has it. */
export interface ViewerDay {
  nowMs: number;
  /** The viewer's offset from UTC in minutes (Stockholm: 60, or 120 in summer); used without `timeZone`. */
  utcOffsetMinutes: number;
  /** The viewer's IANA time zone (Europe/Stockholm); must be one `isTimeZone` accepts. */
  timeZone?: string;
}

/** Formatters by zone: building one costs far more than using it. Zones are few (the viewers'). */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 1_000;

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether this is a time zone this process knows (IANA names, and "UTC"). */
export function isTimeZone(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  try {
    formatter(name);
    return true;
  } catch {
    return false; // RangeError: not a zone ICU knows
  }
}

/** The wall clock in `timeZone` at `ms`, as if that clock's reading were UTC. */
function wallClockMs(timeZone: string, ms: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) if (part.type !== "literal") p[part.type] = +part.value;
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

/** Whether `ms` is where the day starting at wall-clock midnight `wallDayMs` (taken as UTC) begins in `timeZone`. */
function startsDay(timeZone: string, wallDayMs: number, ms: number): boolean {
  const wall = wallClockMs(timeZone, ms);
  const before = wallClockMs(timeZone, ms - 1);
  return wall >= wallDayMs && wall < wallDayMs + DAY_MS && before >= wallDayMs - DAY_MS && before < wallDayMs;
}

/**
 * The first instant whose wall-clock date in `timeZone` is the day starting at `wallDayMs` (midnight
 * taken as UTC). Where the clocks skip midnight (Santiago, Havana: 00:00 becomes 01:00) that is the end
 * of the gap; where midnight comes twice (Gaza 2018: 01:00 goes back to 00:00) it is the first one.
 */
function dayStartOf(timeZone: string, wallDayMs: number): number {
  // Midnight at the zone's offset at one instant, then at the offset found there. Around a change the
  // two differ: at a gap starting at midnight the offset from before it gives the gap's end and the one
  // from after it the previous day's last hour; at a repeated midnight both are midnights. So take the
  // earlier one that Intl confirms starts the day, not simply the second as before.
  const first = wallDayMs - (wallClockMs(timeZone, wallDayMs) - wallDayMs);
  const second = wallDayMs - (wallClockMs(timeZone, first) - first);
  for (const ms of first < second ? [first, second] : [second, first])
    if (startsDay(timeZone, wallDayMs, ms)) return ms;
  // Otherwise (a gap across midnight but not starting at it, a skipped day) search for the first instant
  // on or after the day. Offsets lie within UTC-12 to UTC+14, so the start lies within these bounds.
  let lo = wallDayMs - 15 * HOUR_MS; // still before the day
  let hi = wallDayMs + 13 * HOUR_MS; // already in it, or after a skipped day
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallClockMs(timeZone, mid) >= wallDayMs) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Midnight starting the viewer's day containing `day.nowMs`, minus `daysBack` days, as unix ms. */
export function viewerDayStart(day: ViewerDay, daysBack = 0): number {
  const zone = day.timeZone;
  if (!zone) {
    const offset = day.utcOffsetMinutes * 60_000;
    return Math.floor((day.nowMs + offset) / DAY_MS) * DAY_MS - offset - daysBack * DAY_MS;
  }
  const wallToday = Math.floor(wallClockMs(zone, day.nowMs) / DAY_MS) * DAY_MS;
  return dayStartOf(zone, wallToday - daysBack * DAY_MS);
}

/**
 * The starts of the viewer's last `days` days, today last, and the end of today: `days + 1`
 * instants, consecutive ones 23 to 25 hours apart where the zone changes its clocks.
 */
export function viewerDayEdges(day: ViewerDay, days: number): number[] {
  return Array.from({ length: days + 1 }, (_, i) => viewerDayStart(day, days - 1 - i));
}

/** The starts of today's hours, and the end of today: 24 hours, or 23 or 25 on a day the clocks change. */
export function viewerHourEdges(day: ViewerDay): number[] {
  const [start, end] = viewerDayEdges(day, 1) as [number, number];
  return Array.from({ length: Math.round((end - start) / HOUR_MS) + 1 }, (_, i) => start + i * HOUR_MS);
}

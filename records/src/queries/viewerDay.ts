// "Today" and the days before it as the wall's viewer lives them. With the
// viewer's IANA zone the day edges follow daylight saving time: the spring
// day has 23 hours, the autumn day 25, and last week's midnights sit where
// the clock showed midnight then, not at today's offset moved back whole days.
// Without a zone (an older dashboard) the viewer's current UTC offset is used.

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

/** The instant the clock in `timeZone` reads `wallMs` (taken as UTC); at a gap (clocks skip it), just after it. */
function instantOf(timeZone: string, wallMs: number): number {
  // The zone's offset near the answer; asked twice, since the first guess may sit across a change.
  const first = wallMs - (wallClockMs(timeZone, wallMs) - wallMs);
  return wallMs - (wallClockMs(timeZone, first) - first);
}

/** Midnight starting the viewer's day containing `day.nowMs`, minus `daysBack` days, as unix ms. */
export function viewerDayStart(day: ViewerDay, daysBack = 0): number {
  const zone = day.timeZone;
  if (!zone) {
    const offset = day.utcOffsetMinutes * 60_000;
    return Math.floor((day.nowMs + offset) / DAY_MS) * DAY_MS - offset - daysBack * DAY_MS;
  }
  const wallToday = Math.floor(wallClockMs(zone, day.nowMs) / DAY_MS) * DAY_MS;
  return instantOf(zone, wallToday - daysBack * DAY_MS);
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

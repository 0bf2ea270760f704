// Which alerts a wall's snapshot shows: the wall's alerts are "today's
// alerts", so those raised since the start of the viewer's day (in their
// zone, or at their UTC offset). Without a bound a quiet store's wall (a
// kiosk screen) showed last week's alerts as if they were today's, and
// brought back on every reconnect the ones a person had dismissed.
import { isTimeZone, viewerDayStart } from "@parley/proto/viewer-day";
import type { Subscribe } from "@parley/proto/wall";

const DAY_MS = 24 * 3_600_000;
/** Offsets beyond any zone's (UTC−12 to UTC+14), with a margin. */
const MAX_UTC_OFFSET_MINUTES = 18 * 60;

/**
 * The start of the viewer's day as the subscription states it (a zone this
 * process knows first, else the offset); a dashboard that states neither
 * (an older one), or only nonsense, gets the last 24 hours. Never refuses:
 * a wall is not worth losing over the age of its alerts.
 */
export function alertsSince(asked: Pick<Subscribe, "utcOffsetMinutes" | "timeZone">, nowMs: number): number {
  if (asked.timeZone && isTimeZone(asked.timeZone))
    return viewerDayStart({ nowMs, utcOffsetMinutes: 0, timeZone: asked.timeZone });
  const offset = asked.utcOffsetMinutes;
  if (offset !== undefined && Math.abs(offset) <= MAX_UTC_OFFSET_MINUTES)
    return viewerDayStart({ nowMs, utcOffsetMinutes: offset });
  return nowMs - DAY_MS;
}

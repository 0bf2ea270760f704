// The figures of the wall's tiles that are averages: none where there is
// nothing to average (a day whose conversations all ended without a final
// score shows "—", not an average of 0 and a drop against the baseline).
import type { Tiles } from "@parley/proto/wall";

export interface TileFigures {
  todayAverage: number | undefined;
  baselineAverage: number | undefined;
  /** Today's average against the baseline's. */
  delta: number | undefined;
  /** 0..1 of today's scored conversations. */
  shareAbove: number | undefined;
}

export function tileFigures(tiles: Tiles | undefined): TileFigures {
  const todayAverage = tiles?.todayScored ? tiles.todayAverageScore : undefined;
  const baselineAverage = tiles?.baselineCount ? tiles.baselineAverageScore : undefined;
  return {
    todayAverage,
    baselineAverage,
    delta: todayAverage !== undefined && baselineAverage !== undefined ? todayAverage - baselineAverage : undefined,
    shareAbove: tiles?.todayScored ? tiles.shareAboveRewardThreshold : undefined,
  };
}

import { create } from "@bufbuild/protobuf";
import { TilesSchema } from "@parley/proto/wall";
import { describe, expect, it } from "vitest";
import { tileFigures } from "../src/tileFigures.ts";

describe("the wall's tiles", () => {
  it("show no average, share or drop for a day whose conversations all ended without a score", () => {
    const tiles = create(TilesSchema, { todayCount: 1, todayScored: 0, baselineCount: 4, baselineAverageScore: 62 });
    expect(tileFigures(tiles)).toEqual({
      todayAverage: undefined,
      baselineAverage: 62,
      delta: undefined,
      shareAbove: undefined,
    });
  });

  it("compare today's scored conversations with the baseline", () => {
    const tiles = create(TilesSchema, {
      todayCount: 3,
      todayScored: 2,
      todayAverageScore: 70,
      shareAboveRewardThreshold: 0.5,
      baselineCount: 4,
      baselineAverageScore: 62,
    });
    expect(tileFigures(tiles)).toEqual({ todayAverage: 70, baselineAverage: 62, delta: 8, shareAbove: 0.5 });
    expect(tileFigures(undefined).todayAverage).toBeUndefined();
  });
});

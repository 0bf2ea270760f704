import { create } from "@bufbuild/protobuf";
import { SegmentSchema } from "@parley/proto/asr";
import { describe, expect, it } from "vitest";
import { TranscriptAssembler } from "../src/TranscriptAssembler.ts";

const seg = (segmentId: number, text: string, isFinal: boolean) => create(SegmentSchema, { segmentId, text, isFinal });

describe("TranscriptAssembler", () => {
  it("replaces partials by the final of the same id", () => {
    const t = new TranscriptAssembler("s");
    expect(t.apply(seg(0, "the bar", false))?.text).toBe("the bar");
    expect(t.apply(seg(0, "the barista", false))?.isFinal).toBe(false);
    expect(t.apply(seg(0, "the barista was kind", true))?.isFinal).toBe(true);
    t.apply(seg(1, "but slow", false));
    expect(t.text()).toBe("the barista was kind but slow");
    expect(t.finalText()).toBe("the barista was kind");
  });

  it("ignores repeats and partials that arrive after their final", () => {
    const t = new TranscriptAssembler("s");
    t.apply(seg(0, "hello", true));
    expect(t.apply(seg(0, "hell", false))).toBeUndefined();
    expect(t.apply(seg(0, "hello", true))).toBeUndefined();
    expect(t.apply(seg(0, "hello there", true))?.text).toBe("hello there"); // a revised final replaces
  });

  it("orders segments by id whatever the arrival order", () => {
    const t = new TranscriptAssembler("s");
    t.apply(seg(2, "c", true));
    t.apply(seg(0, "a", true));
    t.apply(seg(1, "b", true));
    expect(t.finalText()).toBe("a b c");
  });
});

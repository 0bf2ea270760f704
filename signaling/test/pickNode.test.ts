// Sessions go to the node with the most room.
import { describe, expect, it } from "vitest";
import { type NodeInfo, pickNode, placeSession } from "../src/cluster/NodeDirectory.ts";

const node = (nodeId: string, liveSessions: number, maxSessions = 10, draining = false): NodeInfo => ({
  nodeId,
  publicUrl: `http://${nodeId}`,
  liveSessions,
  maxSessions,
  draining,
  updatedAtMs: 0,
});

describe("pickNode", () => {
  it("places a session on the node with the most room, preferring itself on a tie", () => {
    expect(pickNode([node("a", 5), node("b", 2)], "a")?.nodeId).toBe("b");
    expect(pickNode([node("a", 2), node("b", 2)], "b")?.nodeId).toBe("b");
    expect(pickNode([node("a", 2), node("b", 2)], "a")?.nodeId).toBe("a");
  });

  it("sends customers to another node only if it has an address of its own", () => {
    const hidden = { ...node("b", 0), publicUrl: null };
    expect(pickNode([node("a", 5), hidden], "a")?.nodeId).toBe("a");
    expect(pickNode([node("a", 10), hidden], "a")).toBeUndefined();
    // A node always takes its own customers: they reach it where they loaded the page.
    expect(pickNode([node("a", 5), hidden], "b")?.nodeId).toBe("b");
  });

  it("skips draining and full nodes, and finds none when all are", () => {
    expect(pickNode([node("a", 0, 10, true), node("b", 9)], "a")?.nodeId).toBe("b");
    expect(pickNode([node("a", 10), node("b", 3, 10, true)], "a")).toBeUndefined();
  });

  it("places a conversation only on a node whose speech workers recognise its language", () => {
    const english = { ...node("a", 0), languages: ["en"] };
    const swedish = { ...node("b", 5), languages: ["sv", "en"] };
    expect(pickNode([english, swedish], "a", "sv-SE")?.nodeId).toBe("b"); // less room, but it speaks Swedish
    expect(pickNode([english, swedish], "a", "en-GB")?.nodeId).toBe("a"); // by primary language
    expect(pickNode([english, swedish], "a", "SV")?.nodeId).toBe("b"); // case aside
    expect(pickNode([english, swedish], "b")?.nodeId).toBe("a"); // no language: the workers' default
    // A node that lists none (an older release, or workers that take any) may take any language.
    expect(pickNode([english, node("c", 9)], "a", "fi-FI")?.nodeId).toBe("c");
  });

  it("says whether no node recognises the language or every one that does is full", () => {
    const english = { ...node("a", 0), languages: ["en"] };
    const swedish = { ...node("b", 0, 10, true), languages: ["sv"] };
    expect(placeSession([english, swedish], "a", "sv-SE")).toEqual({ refusal: "full" });
    expect(placeSession([english, swedish], "a", "fi-FI")).toEqual({ refusal: "language_unsupported" });
    expect(placeSession([english, swedish], "a", "en-US").node?.nodeId).toBe("a");
    // One that recognises it but that customers cannot be sent to from here (no public address) does not count.
    const hidden = { ...node("b", 0), publicUrl: null, languages: ["sv"] };
    expect(placeSession([english, hidden], "a", "sv-SE")).toEqual({ refusal: "language_unsupported" });
  });
});

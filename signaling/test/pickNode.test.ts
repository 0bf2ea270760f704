// Sessions go to the node with the most room.
import { describe, expect, it } from "vitest";
import { type NodeInfo, pickNode } from "../src/cluster/NodeDirectory.ts";

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
});

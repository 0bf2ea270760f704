// The live conversation kept for the browser tab, so that a reload takes it up
// again; sessionStorage stubbed.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  forgetConversation,
  keepConversation,
  keepShown,
  keptConversation,
  shownSoFar,
} from "../src/keptConversation.ts";

const now = Date.parse("2026-11-27T12:00:00Z");
const conversation = {
  store: "demo",
  url: "ws://127.0.0.1:8080/ws",
  token: "tok",
  sessionId: "6f1c2a4e-8b1d-4c55-9a0e-2d7f3b9c1e42",
  dataCode: "ABCD-EFGH-JKLM",
  expiresAtMs: now + 15 * 60_000,
};

let store: Map<string, string>;
beforeEach(() => {
  store = new Map();
  vi.stubGlobal("sessionStorage", {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => void store.set(k, v),
    removeItem: (k: string) => void store.delete(k),
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("keptConversation", () => {
  it("gives back what was kept, for the same store, until it is forgotten", () => {
    expect(keptConversation("demo", now)).toBeUndefined();
    keepConversation(conversation);
    expect(keptConversation("demo", now)).toEqual(conversation);
    expect(keptConversation("other", now)).toBeUndefined();
    forgetConversation();
    expect(keptConversation("demo", now)).toBeUndefined();
  });

  it("keeps one without a data code (a node without records)", () => {
    const { dataCode: _, ...withoutCode } = conversation;
    keepConversation(withoutCode);
    expect(keptConversation("demo", now)).toEqual(withoutCode);
  });

  it("forgets one whose token has expired (or is about to), or that is not whole", () => {
    keepConversation({ ...conversation, expiresAtMs: now + 1_000 });
    expect(keptConversation("demo", now)).toBeUndefined();
    expect(store.size).toBe(0);
    store.set("parley.conversation", JSON.stringify({ store: "demo", url: "ws://x/ws" }));
    expect(keptConversation("demo", now)).toBeUndefined();
    store.set("parley.conversation", "{not json");
    expect(keptConversation("demo", now)).toBeUndefined();
  });

  it("keeps what the customer saw so far, forgotten with the conversation", () => {
    expect(shownSoFar()).toEqual({ finals: [] });
    keepConversation(conversation);
    const shown = {
      finals: [
        { id: 0, text: "the coffee was cold" },
        { id: 2, text: "and the staff were slow" },
      ],
      question: { turn: 1, text: "Which drink was it?" },
    };
    keepShown(shown);
    expect(shownSoFar()).toEqual(shown);
    forgetConversation();
    expect(shownSoFar()).toEqual({ finals: [] });
    store.set("parley.conversation.shown", JSON.stringify({ finals: [{ id: "x" }, null, { id: 3, text: "ok" }] }));
    expect(shownSoFar()).toEqual({ finals: [{ id: 3, text: "ok" }] });
  });

  it("does without storage (disabled in the browser)", () => {
    vi.stubGlobal("sessionStorage", {
      getItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
      setItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
      removeItem: () => {
        throw new DOMException("denied", "SecurityError");
      },
    });
    expect(() => keepConversation(conversation)).not.toThrow();
    expect(keptConversation("demo", now)).toBeUndefined();
    expect(() => forgetConversation()).not.toThrow();
    expect(() => keepShown({ finals: [] })).not.toThrow();
    expect(shownSoFar()).toEqual({ finals: [] });
  });
});

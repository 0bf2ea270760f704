// The live conversation kept for the browser tab, so that a reload takes it up
// again; sessionStorage stubbed.

import { EndReason } from "@parley/proto/live";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ENDED_SHOWN_MS,
  endedConversation,
  forgetConversation,
  forgetEnded,
  keepConversation,
  keepEnded,
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

describe("endedConversation", () => {
  const ended = {
    store: "demo",
    sessionId: conversation.sessionId,
    dataCode: conversation.dataCode,
    reason: EndReason.CUSTOMER,
    summary: "Negative feedback about waiting time",
    finals: [{ id: 1, text: "the coffee was cold" }],
    endedAtMs: now,
  };

  it("gives back the end screen kept, for the same store, until the customer starts another", () => {
    keepEnded(ended);
    expect(endedConversation("demo", now + 60_000)).toEqual(ended);
    expect(endedConversation("other", now)).toBeUndefined();
    forgetEnded();
    expect(endedConversation("demo", now)).toBeUndefined();
  });

  it("is not forgotten with the live conversation (the end forgets that one)", () => {
    keepConversation(conversation);
    keepEnded(ended);
    forgetConversation();
    expect(endedConversation("demo", now)).toEqual(ended);
  });

  it("forgets an end screen older than it is shown for, or one that is not whole", () => {
    keepEnded(ended);
    expect(endedConversation("demo", now + ENDED_SHOWN_MS + 1)).toBeUndefined();
    expect(store.size).toBe(0);
    store.set("parley.ended", JSON.stringify({ store: "demo", sessionId: "x" }));
    expect(endedConversation("demo", now)).toBeUndefined();
    store.set("parley.ended", "{not json");
    expect(endedConversation("demo", now)).toBeUndefined();
  });
});

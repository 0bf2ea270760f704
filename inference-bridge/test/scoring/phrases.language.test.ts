// What the built-in scoring shows the customer (the live hint), in the
// conversation's language: Swedish for a Swedish store, English by default and
// for a language without word lists; the same choice of hint in each.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuiltinScorer, phrasesFor } from "../../src/scoring/BuiltinScorer.ts";
import { OllamaClient } from "../../src/scoring/OllamaClient.ts";
import { OllamaScorer, parseScoreReply } from "../../src/scoring/OllamaScorer.ts";
import { SWEDISH_PHRASES } from "../../src/scoring/phrases.sv.ts";
import { ENGLISH_PHRASES, type Phrases } from "../../src/scoring/phrases.ts";
import { weakestParts } from "../../src/scoring/types.ts";
import { OllamaProtocolServer } from "./ollama-protocol-server.ts";

const english = new BuiltinScorer();
const swedish = new BuiltinScorer({ language: "sv" });
const COMPLAINT_SV = "kaffet var kallt och kassören var otrevlig";
const COMPLAINT_EN = "the coffee was cold and the cashier was rude";
/** The same feedback in English and in Swedish. */
const SAME_MEANING: [string, string][] = [
  [COMPLAINT_EN, COMPLAINT_SV],
  [`${COMPLAINT_EN} this morning`, `${COMPLAINT_SV} i morse`],
  ["the queue was slow and i was annoyed", "kön var långsam och jag var irriterad"],
  ["the queue was slow and i waited twenty minutes", "kön var långsam och jag väntade i tjugo minuter"],
  ["it was a bit expensive", "det var lite dyrt"],
  ["the service was great", "servicen var jättebra"],
  [
    "the weather was nice and i watched football with my dog",
    "vädret var fint och jag tittade på fotboll med min hund",
  ],
  ["", ""],
];

/** Which entry of a table's hints `hint` is ("invite.price" for a nested one); undefined when none. */
const hintKey = (phrases: Phrases, hint: string): string | undefined => {
  const { invite, ...flat } = phrases.hints;
  const entries = [...Object.entries(flat), ...Object.entries(invite).map(([t, h]) => [`invite.${t}`, h])];
  return entries.find(([, h]) => h === hint)?.[0];
};

describe("the built-in hint in the conversation's language", () => {
  it("gives a Swedish complaint the Swedish table's hint for its weakest part; the English one keeps its hint", () => {
    const sv = swedish.scoreSync(COMPLAINT_SV);
    const en = english.scoreSync(COMPLAINT_EN);
    // Specificity is weakest and no time was named: when it was, and what was had.
    expect(weakestParts(sv)[0]).toBe("specificity");
    expect(sv.hint).toBe(SWEDISH_PHRASES.hints.whenAndWhat);
    expect(weakestParts(en)[0]).toBe("specificity");
    expect(en.hint).toBe(ENGLISH_PHRASES.hints.whenAndWhat);
    expect(en.hint).toBe("say when it was and what you had");
    expect(swedish.scoreSync("kön var långsam och jag var irriterad").hint).toBe(SWEDISH_PHRASES.hints.howLongWaited);
    expect(swedish.scoreSync("servicen var jättebra").hint).toBe(SWEDISH_PHRASES.hints.whatToKeep);
    expect(swedish.scoreSync("").hint).toBe(SWEDISH_PHRASES.hints.start);
  });

  it("chooses the same hint in Swedish as in English for the same feedback", () => {
    for (const [en, sv] of SAME_MEANING) {
      const key = hintKey(ENGLISH_PHRASES, english.scoreSync(en).hint);
      expect(key, en).toBeDefined();
      expect(hintKey(SWEDISH_PHRASES, swedish.scoreSync(sv).hint), sv).toBe(key);
    }
  });

  it("reads the language tag as the rubric does", () => {
    for (const tag of ["sv", "sv-SE", "SV", "sv_SE", " sv-FI "]) {
      expect(phrasesFor(tag), tag).toBe(SWEDISH_PHRASES);
      expect(new BuiltinScorer({ language: tag }).scoreSync(COMPLAINT_SV).hint, tag).toBe(
        SWEDISH_PHRASES.hints.whenAndWhat,
      );
    }
    for (const tag of [undefined, "", "en", "en-US", "EN"]) expect(phrasesFor(tag), tag).toBe(ENGLISH_PHRASES);
  });

  it("gives a language without word lists English hints", () => {
    for (const tag of ["fi", "fi-FI", "de-DE"]) {
      const finnish = new BuiltinScorer({ language: tag });
      expect(phrasesFor(tag), tag).toBe(ENGLISH_PHRASES);
      expect(
        hintKey(ENGLISH_PHRASES, finnish.scoreSync("kahvi oli kylmää ja kassa oli töykeä").hint),
        tag,
      ).toBeDefined();
      expect(finnish.scoreSync("").hint).toBe("tell us what happened on your visit");
    }
  });

  it("has every hint of the English table in the Swedish one, all different from the English", () => {
    const { invite: enInvite, ...en } = ENGLISH_PHRASES.hints;
    const { invite: svInvite, ...sv } = SWEDISH_PHRASES.hints;
    expect(Object.keys(sv).sort()).toEqual(Object.keys(en).sort());
    expect(Object.keys(svInvite).sort()).toEqual(Object.keys(enInvite).sort());
    for (const [key, text] of Object.entries(sv)) expect(text, key).not.toBe(en[key as keyof typeof en]);
  });
});

describe("the Ollama scorer's fallback hints in the conversation's language", () => {
  let server: OllamaProtocolServer;
  beforeAll(async () => {
    server = await OllamaProtocolServer.start();
  });
  afterAll(() => server.close());
  const scorerIn = (language: string | undefined) =>
    new OllamaScorer({
      client: new OllamaClient({
        host: server.host,
        retry: { maxRetry: 0, retryIntervalMs: 5, timeoutMs: 2_000, budgetMs: 5_000 },
      }),
      language,
    });
  /** A model reply whose hint is unfit to show (a link), with relevance its weakest part. */
  const UNFIT = {
    specificity: 0.6,
    actionability: 0.6,
    sentiment: -0.6,
    relevance: 0.2,
    score: 40,
    topics: ["service"],
    hint: "say more at www.example.com",
  };

  it("replaces an unfit model hint with the generic one of the conversation's language", () => {
    const reply = JSON.stringify(UNFIT);
    expect(parseScoreReply(reply, "x", undefined, "", "sv-SE").hint).toBe(SWEDISH_PHRASES.hints.aboutThisVisit);
    expect(parseScoreReply(reply, "x").hint).toBe("tell us about this visit");
    expect(parseScoreReply(reply, "x", undefined, "", "fi").hint).toBe("tell us about this visit");
  });

  it("shows the Swedish rubric's hint in a Swedish conversation when the model's is unfit", async () => {
    server.behave({ kind: "reply", content: JSON.stringify(UNFIT) });
    const result = await scorerIn("sv-SE").score(COMPLAINT_SV, new AbortController().signal);
    expect(result.hint).toBe(swedish.scoreSync(COMPLAINT_SV).hint);
    expect(result.hint).toBe(SWEDISH_PHRASES.hints.whenAndWhat);
  });

  it("greets an empty Swedish transcript in Swedish without asking the model", async () => {
    const requests = server.chatRequests.length;
    expect((await scorerIn("sv").score("  ", new AbortController().signal)).hint).toBe(SWEDISH_PHRASES.hints.start);
    expect((await scorerIn("fi").score("", new AbortController().signal)).hint).toBe(
      "tell us what happened on your visit",
    );
    expect((await scorerIn(undefined).score("", new AbortController().signal)).hint).toBe(
      "tell us what happened on your visit",
    );
    expect(server.chatRequests.length).toBe(requests);
  });
});

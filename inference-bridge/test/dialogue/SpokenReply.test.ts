import { describe, expect, it } from "vitest";
import { SpokenReply } from "../../src/dialogue/SpokenReply.ts";
import { FliteTts, type SpeechSynthesizer } from "../../src/tts/FliteTts.ts";
import { SynthesisError } from "../../src/tts/SynthesisError.ts";

/** Answers each call when told to; records calls and their signals. */
class HeldTts implements SpeechSynthesizer {
  readonly name = "held";
  readonly calls: {
    text: string;
    signal: AbortSignal | undefined;
    language: string | undefined;
    answer: () => void;
  }[] = [];

  synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array> {
    return new Promise((resolve, reject) => {
      signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      this.calls.push({ text, signal, language, answer: () => resolve(new Int16Array(text.length)) });
    });
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("SpokenReply", () => {
  it("synthesises the first clause first, then the rest, one at a time", async () => {
    const tts = new HeldTts();
    const reply = new SpokenReply(tts, "Who served you, and what did they do?");
    await flush();
    expect(tts.calls.map((c) => c.text)).toEqual(["Who served you,"]);
    expect(reply.firstReadyAt).toBeUndefined();
    tts.calls[0]!.answer();
    expect((await reply.first).length).toBe("Who served you,".length);
    expect(reply.firstReadyAt).toBeGreaterThanOrEqual(reply.startedAt);
    await flush();
    expect(tts.calls.map((c) => c.text)).toEqual(["Who served you,", "and what did they do?"]);
    const rest = reply.rest();
    const next = rest.next();
    tts.calls[1]!.answer();
    expect((await next).value?.length).toBe("and what did they do?".length);
    expect((await rest.next()).done).toBe(true);
  });

  it("synthesises every piece in the conversation's language, and in none when it has none", async () => {
    const tts = new HeldTts();
    const reply = new SpokenReply(tts, "Vem betjänade dig, och vad gjorde de?", "sv-SE");
    await flush();
    tts.calls[0]!.answer();
    await reply.first;
    await flush();
    tts.calls[1]!.answer();
    for await (const _ of reply.rest());
    expect(tts.calls.map((c) => [c.text, c.language])).toEqual([
      ["Vem betjänade dig,", "sv-SE"],
      ["och vad gjorde de?", "sv-SE"],
    ]);
    const english = new HeldTts();
    new SpokenReply(english, "Who served you?");
    await flush();
    expect(english.calls.map((c) => c.language)).toEqual([undefined]);
  });

  it("abort() cancels the synthesis under way and the rest is never started", async () => {
    const tts = new HeldTts();
    const reply = new SpokenReply(tts, "Who served you, and what did they do?");
    await flush();
    reply.abort();
    reply.abort(); // safe twice
    expect(reply.aborted).toBe(true);
    expect(tts.calls[0]!.signal?.aborted).toBe(true);
    await expect(reply.first).rejects.toMatchObject({ name: "AbortError" });
    const rest: Int16Array[] = [];
    for await (const piece of reply.rest()) rest.push(piece);
    expect(rest).toEqual([]);
    await flush();
    expect(tts.calls).toHaveLength(1);
  });

  it("a failing first piece fails the reply; the rest is not synthesised", async () => {
    const tts: SpeechSynthesizer = {
      name: "broken",
      synthesize: (text) =>
        text.startsWith("Who") ? Promise.reject(new Error("flite broke")) : Promise.resolve(new Int16Array(1)),
    };
    const reply = new SpokenReply(tts, "Who served you, and what did they do?");
    await expect(reply.first).rejects.toThrow("flite broke");
    await expect(reply.rest().next()).rejects.toThrow("flite broke");
    // Told apart from other failures (the director counts it as stage "tts"), with the synthesiser's error kept.
    await expect(reply.first).rejects.toMatchObject({ name: "SynthesisError", reason: "failed" });
    await expect(reply.first).rejects.toHaveProperty("cause.message", "flite broke");
  });

  it("keeps a synthesiser's timeout as it is, and an abort an AbortError", async () => {
    const timedOut: SpeechSynthesizer = {
      name: "stuck",
      synthesize: () => Promise.reject(new SynthesisError("timeout", "no speech within 5000 ms")),
    };
    await expect(new SpokenReply(timedOut, "Who served you?").first).rejects.toMatchObject({ reason: "timeout" });
    const tts = new HeldTts();
    const reply = new SpokenReply(tts, "Who served you?");
    await flush();
    reply.abort();
    await expect(reply.first).rejects.toMatchObject({ name: "AbortError" });
  });

  it("an empty reply is silent", async () => {
    const reply = new SpokenReply(new HeldTts(), "  ");
    expect((await reply.first).length).toBe(0);
    expect((await reply.rest().next()).done).toBe(true);
  });

  it("with the real flite: the first clause is ready on its own, and both pieces say the whole question", async () => {
    const tts = new FliteTts();
    const question = "What was wrong with it: the taste, the temperature, or something else?";
    const reply = new SpokenReply(tts, question);
    const first = await reply.first;
    const rest: Int16Array[] = [];
    for await (const piece of reply.rest()) rest.push(piece);
    expect(rest).toHaveLength(1);
    const whole = await tts.synthesize(question);
    // Each piece is real speech; together about as long as the sentence said at once.
    expect(first.length / 16_000).toBeGreaterThan(0.6);
    expect(rest[0]!.length / 16_000).toBeGreaterThan(1);
    const ratio = (first.length + rest[0]!.length) / whole.length;
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.3);
  });
});

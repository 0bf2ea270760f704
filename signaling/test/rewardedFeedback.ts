// What the browser tests of rewards share: a store that pays every finished
// conversation 5 kr, and a fake microphone that says a visit's feedback (the
// fraud and quality rules withhold rewards for off-topic talk).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { expect } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { ownerToken } from "./harness.ts";

export const FEEDBACK =
  "The coffee was cold and the staff at the counter did not notice me for ten minutes. " +
  "The cinnamon bun was fresh and the price was fair, but please clean the tables near the window.";

/** Every finished conversation at the demo store earns 5 kr, whatever its score. */
export async function payEveryConversation(server: ParleyServer): Promise<void> {
  const policy = await fetch(`${server.url}/api/stores/demo/reward-policy`, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${await ownerToken(server)}` },
    body: JSON.stringify({ minQuality: 0, tiers: [{ minScore: 0, amountMinor: 500 }], capMinor: 500 }),
  });
  expect(policy.status).toBe(200);
}

/** The silence around FEEDBACK in spokenFeedback's WAV, in seconds. */
const LEAD_S = 1.5;
const TAIL_S = 2;

/** FEEDBACK spoken by flite into a 48 kHz WAV in `dir` for the fake microphone, and how long it speaks. */
export function spokenFeedback(dir: string): { wav: string; seconds: number } {
  const spoken = path.join(dir, "spoken.wav");
  execFileSync("flite", ["-voice", "slt", "-t", FEEDBACK, "-o", spoken]);
  const wav = path.join(dir, "speech.wav");
  execFileSync("sox", [spoken, "-r", "48000", wav, "pad", String(LEAD_S), String(TAIL_S)]);
  return { wav, seconds: Number(execFileSync("soxi", ["-D", spoken], { encoding: "utf8" })) };
}

/**
 * Called once the conversation is live (the app opens its microphone before it joins): a wait
 * that ends a second after the fake microphone has played spokenFeedback's WAV (`seconds` of
 * speech and its silences) to the end, so "I'm done" comes after the customer said everything.
 */
export function untilSpoken(seconds: number): () => Promise<void> {
  const playedOutAt = performance.now() + (LEAD_S + seconds + TAIL_S + 1) * 1000;
  return () => new Promise((resolve) => setTimeout(resolve, Math.max(0, playedOutAt - performance.now())));
}

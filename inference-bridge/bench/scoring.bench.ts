// Scores per second per core of the built-in engine, on a mix of transcripts
// from a vague word to a long detailed complaint (one thread = one core).
// Run: npx tsx inference-bridge/bench/scoring.bench.ts [seconds]
import { BuiltinScorer } from "../src/scoring/BuiltinScorer.ts";

const TEXTS = [
  "it was fine",
  "um yeah it was okay i guess",
  "the coffee was cold and the staff were slow",
  "the staff were friendly and the place was clean",
  "the barista remembered my order but the card reader failed twice so i waited ten minutes",
  "i ordered a latte at around nine this morning and it was lukewarm and the toilets were dirty you should clean them more often",
  "the cashier was really helpful she explained the discount but the queue took forever because only one till was open they should open a second till at lunchtime and maybe hire more staff for the weekend because every saturday it is the same and the tables are sticky too",
  "so yeah um i went there after the football game and my girlfriend likes the weather here you know",
];

const seconds = Number(process.argv[2] ?? 3);
const scorer = new BuiltinScorer();
let sink = 0;
// Warm up the JIT before measuring.
for (let i = 0; i < 20_000; i++) sink += scorer.scoreSync(TEXTS[i % TEXTS.length]!).score;

function measure(texts: string[]): { perSecond: number; n: number; elapsed: number } {
  let n = 0;
  const started = performance.now();
  const until = started + seconds * 1_000;
  while (performance.now() < until) {
    for (let i = 0; i < 200; i++, n++) sink += scorer.scoreSync(texts[n % texts.length]!).score;
  }
  const elapsed = (performance.now() - started) / 1_000;
  return { perSecond: Math.round(n / elapsed), n, elapsed };
}

const fmt = (x: number) => x.toLocaleString("en-US");
const words = (texts: string[]) => Math.round(texts.reduce((s, t) => s + t.split(" ").length, 0) / texts.length);
// A whole conversation's final text, as scored near its end.
const CONVERSATION = [TEXTS.slice(2).join(" ")];
for (const [label, texts] of [
  ["mixed turns", TEXTS],
  ["whole conversation", CONVERSATION],
] as const) {
  const r = measure([...texts]);
  console.log(
    `built-in scorer, ${label} (${words([...texts])} words): ${fmt(r.perSecond)} scores/s per core ` +
      `(${fmt(r.n)} in ${r.elapsed.toFixed(1)} s)`,
  );
}
console.log(`checksum ${sink}`);

// The audio of one AI reply, made ahead of need: its pieces (speechChunks:
// the first clause, then the rest) are synthesised one after the other, so
// that the voice can start as soon as the first piece is ready while the
// rest is still being made. The director makes replies speculatively while
// the customer's silence accrues; abort() throws one away (and stops flite).
// A piece that fails rejects with a SynthesisError (an abort stays an
// AbortError), so whoever awaits it can tell a synthesis failure from others.

import type { SpeechSynthesizer } from "../tts/SpeechSynthesizer.ts";
import { asSynthesisError } from "../tts/SynthesisError.ts";
import { speechChunks } from "../tts/speechChunks.ts";
import { trimLeadingSilence } from "../tts/trimLeadingSilence.ts";

const ignore = () => {};

export class SpokenReply {
  readonly text: string;
  /** When synthesis started (performance.now()). */
  readonly startedAt = performance.now();
  /** When the first piece was ready (performance.now()); undefined until then. */
  firstReadyAt: number | undefined;
  readonly #controller = new AbortController();
  readonly #pieces: Promise<Int16Array>[];

  /** `language`: the conversation's (BCP 47), which picks the voice; absent: English. */
  constructor(tts: SpeechSynthesizer, text: string, language?: string) {
    this.text = text;
    const signal = this.#controller.signal;
    let previous: Promise<unknown> = Promise.resolve();
    this.#pieces = speechChunks(text).map((chunk, i) => {
      // One flite at a time: a second one would only slow the first down.
      const synthesized = previous
        .then(() => tts.synthesize(chunk, signal, language))
        .catch((err: unknown) => {
          throw asSynthesisError(err);
        });
      // The reply starts with its first sound, not with the synthesiser's silence.
      const piece = i === 0 ? synthesized.then(trimLeadingSilence) : synthesized;
      piece.catch(ignore); // whoever awaits it sees the error; nobody has to
      previous = synthesized;
      return piece;
    });
    this.#pieces[0]?.then(() => {
      this.firstReadyAt = performance.now();
    }, ignore);
  }

  get aborted(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The first piece's audio (empty for an empty reply); rejects (SynthesisError, AbortError) if its synthesis failed or was aborted. */
  get first(): Promise<Int16Array> {
    return this.#pieces[0] ?? Promise.resolve(new Int16Array(0));
  }

  /** The pieces after the first, in order, each as soon as it is ready. */
  async *rest(): AsyncGenerator<Int16Array> {
    for (const piece of this.#pieces.slice(1)) {
      if (this.aborted) return;
      yield await piece;
    }
  }

  /** Throws the reply away: synthesis still running is cancelled. Safe to call twice. */
  abort(): void {
    this.#controller.abort();
  }
}

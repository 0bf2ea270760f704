// What the AI's voice is made by: text in, 16 kHz mono s16le PCM out.

export interface SpeechSynthesizer {
  readonly name: string;
  /**
   * Speech for `text` in `language` (the conversation's BCP 47 tag, e.g.
   * "sv-SE"; absent: English). Rejects with an AbortError when `signal`
   * fires, else with a SynthesisError or the synthesiser's own error.
   */
  synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array>;
  /** Releases what it holds (a helper process); safe to call twice. */
  close?(): void;
}

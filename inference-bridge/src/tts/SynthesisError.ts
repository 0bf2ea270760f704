// A synthesis that produced no speech for a reason other than the caller's
// abort: the synthesiser failed, took too long (a stalled flite or launcher
// helper), or too many syntheses were already waiting. The director counts
// these as voice_processing_errors_total{stage="tts"}.

export type SynthesisFailureReason = "failed" | "timeout" | "busy";

export class SynthesisError extends Error {
  readonly reason: SynthesisFailureReason;

  constructor(reason: SynthesisFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SynthesisError";
    this.reason = reason;
  }
}

/** Whether `err` is a cancellation (an AbortError), not a failure. */
export const isAbortError = (err: unknown): boolean => err instanceof Error && err.name === "AbortError";

/** `err` as a SynthesisError (the synthesiser's own error as its cause); cancellations stay as they are. */
export function asSynthesisError(err: unknown): unknown {
  if (err instanceof SynthesisError || isAbortError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SynthesisError("failed", message, { cause: err });
}

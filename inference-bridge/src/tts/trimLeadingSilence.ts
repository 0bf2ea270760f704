// Synthesisers start with silence (flite: 150–200 ms before the first
// word). At the start of a reply that silence is pure latency: the customer
// hears nothing while the first packets go out. It is cut, keeping a short
// lead-in so the first sound is not clipped.

const WINDOW = 160; // 10 ms at 16 kHz
/** −50 dBFS: quieter than any voiced sound, louder than a synthesiser's digital near-silence. */
const SOUND_RMS = 100;
const KEEP = 320; // 20 ms before the first sound

/**
 * The view made for each PCM array: the synthesis cache hands out the same
 * samples for the same words, and the same view of them lets the AI's voice
 * reuse their encoded frames (media's EncodedSpeech goes by identity).
 */
const trimmed = new WeakMap<Int16Array, Int16Array>();

/** `pcm` from 20 ms before its first sound (a view, not a copy); all of it if it never gets loud. */
export function trimLeadingSilence(pcm: Int16Array): Int16Array {
  let view = trimmed.get(pcm);
  if (!view) {
    view = fromFirstSound(pcm);
    trimmed.set(pcm, view);
  }
  return view;
}

function fromFirstSound(pcm: Int16Array): Int16Array {
  const threshold = SOUND_RMS * SOUND_RMS * WINDOW;
  for (let start = 0; start + WINDOW <= pcm.length; start += WINDOW) {
    let energy = 0;
    for (let i = start; i < start + WINDOW; i++) energy += pcm[i]! * pcm[i]!;
    if (energy >= threshold) return start > KEEP ? pcm.subarray(start - KEEP) : pcm;
  }
  return pcm;
}

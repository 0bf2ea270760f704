// A reply is synthesised in pieces so that the AI's voice can start with the
// first piece while the rest is still being made. flite writes a whole text
// at once, so the pieces are synthesised separately: the first clause alone
// (up to the first comma, colon, semicolon or sentence end), then the rest.
// Only at punctuation: flite gives each piece its own sentence melody, and a
// cut inside a clause would sound like two sentences.

/** Fewer words than this in the first clause: not worth a piece of its own. */
const MIN_FIRST_WORDS = 2;

/** [first clause, rest], or [text] when it has no clause break worth cutting at. */
export function speechChunks(text: string): string[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const clauseEnd = /[,;:](?=\s)|[.?!](?=\s+\S)/g;
  for (let match = clauseEnd.exec(trimmed); match; match = clauseEnd.exec(trimmed)) {
    const first = trimmed.slice(0, match.index + 1).trim();
    const rest = trimmed.slice(match.index + 1).trim();
    if (countWords(first) < MIN_FIRST_WORDS) continue;
    if (!/[\p{L}\p{N}]/u.test(rest)) break;
    return [first, rest];
  }
  return [trimmed];
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

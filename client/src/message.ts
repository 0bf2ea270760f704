// Something the app tells the customer, kept as a message key (with its
// parameters) and translated only where shown: a switch of language
// translates what is on screen too.
import type { MessageKey } from "./i18n.ts";
import { languageName, t } from "./locale.ts";

/** Something to tell the customer, translated when shown (in the language of that moment). */
export type Message = { key: MessageKey; params?: Record<string, string | number> } | undefined;

export const say = (key: MessageKey, params?: Record<string, string | number>): Message => ({
  key,
  ...(params ? { params } : {}),
});

/** A message in the language of the moment (a language's name too). */
export function shown(m: NonNullable<Message>): string {
  if (m.key === "languageUnsupported") return t(m.key, { language: languageName(String(m.params?.language ?? "")) });
  return t(m.key, m.params);
}

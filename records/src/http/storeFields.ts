// What an owner may set on a store, checked the same way when it is created
// (POST …/stores) and when it is changed (PATCH …/stores/:storeCode): a name,
// the language its conversations are held in (BCP 47, handed to the speech
// engine), its time zone (IANA) and the currency of its rewards (ISO 4217,
// which is its business's: rewards and the daily budget are kept in one
// currency per business). Each is canonicalised, so that "SV-se" is stored as
// "sv-SE" and "europe/stockholm" as "Europe/Stockholm"; anything else is 400.
import { ErrorCode, ParleyError } from "@parley/proto/errors";

/** A new store's language when none is given (the deployment this was built for is Swedish). */
export const DEFAULT_LANGUAGE = "sv-SE";
export const DEFAULT_TIME_ZONE = "Europe/Stockholm";
/** Longer than any real language tag (RFC 5646 §4.4.1 asks for 35 to be supported); a bound on the input. */
const MAX_LANGUAGE_LENGTH = 35;
const MAX_NAME_LENGTH = 200;

const invalid = (message: string) => new ParleyError(ErrorCode.INVALID_ARGUMENT, message);

export function storeName(value: unknown): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (!name || name.length > MAX_NAME_LENGTH) throw invalid(`name is required (at most ${MAX_NAME_LENGTH} characters)`);
  return name;
}

const displayNames = (type: "language" | "region" | "script") =>
  new Intl.DisplayNames(["en"], { type, fallback: "none" });
const languageNames = displayNames("language");
const regionNames = displayNames("region");
const scriptNames = displayNames("script");

/** Whether ICU has a name for this subtag: a made-up one (a well-formed "klingon", region "XX") has none. */
function named(names: Intl.DisplayNames, code: string | undefined): boolean {
  if (code === undefined) return true;
  try {
    return names.of(code) !== undefined;
  } catch {
    return false; // "und" and the like: refused by DisplayNames itself
  }
}

/**
 * A BCP 47 language tag, canonical (Intl.getCanonicalLocales: "SV-se" → "sv-SE", "art-lojban" →
 * "jbo"), whose language, script and region are ones there are names for. Well-formed is not
 * enough: "klingon" is a well-formed tag (a 5–8 letter language subtag) of no language at all.
 */
export function storeLanguage(value: unknown): string {
  const wrong = () =>
    invalid(`language must be a BCP 47 language tag such as "sv-SE" or "en-US" (got ${JSON.stringify(value)})`);
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_LANGUAGE_LENGTH) throw wrong();
  let tag: string | undefined;
  try {
    [tag] = Intl.getCanonicalLocales(value);
  } catch {
    throw wrong();
  }
  if (!tag) throw wrong();
  const locale = new Intl.Locale(tag);
  if (
    !named(languageNames, locale.language) ||
    !named(scriptNames, locale.script) ||
    !named(regionNames, locale.region)
  )
    throw wrong();
  return tag;
}

const timeZones = new Set(Intl.supportedValuesOf("timeZone"));
/** An IANA zone's shape (Area/Location, e.g. Etc/GMT+5 or a link such as Asia/Calcutta): never an offset. */
const IANA_NAME = /^[A-Za-z]+(?:\/[A-Za-z0-9_+-]+)+$/;

/**
 * An IANA time zone, by the name ICU gives it ("europe/stockholm" → "Europe/Stockholm"). Offsets
 * ("+01:00") are refused: PostgreSQL reads a bare offset as POSIX does, with the sign reversed.
 */
export function storeTimeZone(value: unknown): string {
  const wrong = () =>
    invalid(`timeZone must be an IANA time zone such as "Europe/Stockholm" (got ${JSON.stringify(value)})`);
  if (typeof value !== "string" || value.length === 0 || value.length > 64) throw wrong();
  let zone: string;
  try {
    zone = new Intl.DateTimeFormat("en", { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    throw wrong();
  }
  if (zone !== "UTC" && !timeZones.has(zone) && !IANA_NAME.test(zone)) throw wrong();
  return zone;
}

/**
 * A currency as ISO 4217 writes it (three letters, upper case). A store's rewards are in its
 * business's currency, so the only one a store may name is that one (`businessCurrency`).
 */
export function storeCurrency(value: unknown, businessCurrency: string): string {
  if (typeof value !== "string" || !/^[A-Za-z]{3}$/.test(value))
    throw invalid(`currency must be an ISO 4217 code such as "SEK" (got ${JSON.stringify(value)})`);
  const currency = value.toUpperCase();
  if (currency !== businessCurrency)
    throw invalid(
      `a store's rewards are paid in its business's currency, ${businessCurrency}: currency must be ${businessCurrency}`,
    );
  return currency;
}

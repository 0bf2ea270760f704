// The customer app in Swedish and English: ?lang=sv|en, else the browser's
// language. Every string the customer sees is here.
const en = {
  pageTitle: "Parley — tell us about your visit",
  title: "How was your visit?",
  store: "Store {store}",
  start: "I agree, start talking",
  retry: "Try again",
  intro: "Tell us what happened, in your own words. It takes one to three minutes.",
  connecting: "Connecting…",
  loading: "Loading…",
  listening: "Listening",
  restoring: "Reconnecting… hold on",
  asking: "Parley is asking…",
  done: "I'm done",
  thanks: "Thank you for your feedback!",
  startOver: "Give feedback on another visit",
  finalScore: "Final score:",
  noFinalScore: "No score: the conversation was cut short.",
  rewardLater: "Your reward is calculated from this score…",
  "reward.notYet": "Your reward is taking longer than usual to decide. Check again in a moment.",
  "reward.checkAgain": "Check my reward",
  earned: "You earned {amount}",
  "reward.claim": "Get paid",
  "reward.claimFailed": "The payment could not be started. Your reward is kept: try again later.",
  "reward.claimRefused":
    "The payment could not be started. Your reward is kept: if this goes on, contact the store with your data code.",
  "reward.noPayouts":
    "Payouts are not set up on this service, so this reward cannot be paid out here. It stays recorded with your conversation.",
  "reward.onItsWay": "Your reward is on its way to your account.",
  "reward.paid": "Your reward has been paid to your account.",
  "reward.unfinished": "Your payout account is not set up yet. Finish it to get your reward.",
  "reward.updateBank": "Update my bank details",
  "claim.title": "Your reward",
  "claim.elsewhere": "Welcome back. If you finished setting up your payout account, your reward is on its way.",
  "claim.nothing": "There is no reward to pay for this conversation.",
  "claim.unreadable": "Your reward could not be checked right now. Reload the page in a moment.",
  "claim.payoutFailed":
    "Your bank could not receive the payout. Your reward is kept on your payout account: update your bank details to get it.",
  "reward.withheld": "This conversation did not qualify for a reward.",
  "reward.budgetUsed": "Today's reward budget is used up. Thank you all the same!",
  "reward.none": "No reward this time: a more detailed story earns one.",
  "dataCode.before": "Your data code:",
  "dataCode.after": "(with it you can see or delete what you said)",
  "dataCode.link": "See or delete your data",
  "myData.title": "Your data",
  "myData.ask": "Your data code (shown at the end of your conversation):",
  "myData.open": "Show my data",
  "myData.unknownCode":
    "No conversation has this code. Check it, or it may have been deleted or passed its keeping time.",
  "myData.tooMany": "Too many tries. Please try again in {minutes} min.",
  "myData.stillGoing": "This conversation is still going. End it first, then delete it.",
  "myData.unreachable": "Cannot reach the server. Please try again in a moment.",
  "myData.said": "What you said",
  "myData.nothingSaid": "Nothing you said is kept.",
  "myData.score": "Final score: {score} / 100",
  "myData.reward": "Reward: {amount} ({state})",
  "myData.reward.paid": "paid",
  "myData.reward.unclaimed": "not claimed yet",
  "myData.reward.onItsWay": "on its way",
  "myData.reward.payoutFailed": "your bank could not receive it",
  "myData.reward.other": "not paid",
  "myData.kept":
    "The text and its score are kept for up to {days}, the sound fingerprint for {hours}. The recording itself is not kept.",
  "myData.download": "Download a copy",
  "myData.delete": "Delete my data",
  "myData.deleting": "Deleting…",
  "myData.confirm": "Delete what you said, its score and the AI's questions? This cannot be undone.",
  "myData.forfeit":
    "Your reward of {amount} is not claimed yet. Your data code is what claims it, and it is deleted too: deleting now gives the reward up.",
  "myData.deleteNow": "Delete",
  "myData.deleteForfeit": "Delete and give up the reward",
  "myData.keep": "Keep my data",
  "myData.deleted": "Deleted. Nothing you said is kept any more.",
  "consent.title": "Before you start",
  "consent.whatLabel": "What is recorded:",
  "consent.what": "what you say is turned into text while you speak. The recording itself is not kept.",
  "consent.whyLabel": "Why:",
  "consent.why":
    "the store reads your feedback to improve, and its quality decides your reward. A fingerprint of the sound is used to stop fraud.",
  "consent.howLongLabel": "For how long:",
  "consent.howLong": "the text and its score for up to {transcript}; the sound fingerprint for {voice}.",
  "consent.howLongUnknown":
    "the text and its score for a limited time that this service sets; the sound fingerprint for a shorter time.",
  "consent.screenLabel": "Where it is shown:",
  "consent.screen":
    "feedback that the store approves may be shown on a screen in the store, without phone numbers or e-mail addresses.",
  "consent.code": "At the end you get a code to see or delete your data at any time.",
  "consent.act": "Tapping the button below gives your consent and opens the microphone.",
  busy: "We're busy right now. Please try again in a moment.",
  maintenance: "Parley is down for maintenance. Please try again in a few minutes.",
  retryIn: "Try again in {seconds} s",
  micReopening: "Your microphone stopped. Opening it again…",
  micLost: "Your microphone stopped, so the conversation ended here. What you said is kept.",
  micPaused: "Your microphone is paused by the phone — keep the screen on and Parley in front.",
  endedByAdmin: "This conversation was ended by our staff. What you said so far has been kept.",
  reconnecting: "Reconnecting the speech service… keep talking, nothing is lost.",
  reconnectingAudio: "Reconnecting your audio… one moment.",
  rejoining: "The connection dropped. Reconnecting… what you said so far is kept.",
  resuming: "Picking up your conversation again… what you said so far is kept.",
  takenOver: "Your conversation continued in another tab or window. What you said here is kept.",
  continueHere: "Continue here instead",
  ending: "Finishing your conversation…",
  serviceStopped: "The voice service stopped, so the conversation ends here. What you said is kept.",
  serviceUnavailable: "The voice service is not available. Please try again.",
  interrupted: "The call was interrupted on our side. Please try again.",
  connectionLost: "Connection lost. Check your network and try again.",
  micDenied:
    "Microphone access was denied. Allow the microphone for this page in your browser settings, then try again.",
  noMic: "No microphone was found. Connect one (or use your phone) and try again.",
  "refused.expired": "The link to this conversation has expired. Please start a new one.",
  "refused.gone": "This conversation has ended and cannot be continued. Please start a new one.",
  "refused.tooMany": "Too many attempts in a short time. Please wait a moment and try again.",
  "refused.notAllowed": "This is not allowed. Please start a new conversation.",
  "refused.appError": "Something went wrong in the app. Please try again.",
  startFailed: "Could not start a session ({status}).",
  noStore: "This link doesn't name a store: scan the store's QR code again.",
  languageUnsupported:
    "Feedback in {language} can't be given here yet, so this store can't take your feedback right now. Please let the staff know.",
  storeLanguage: "this store's language",
  unreachable: "Cannot reach the server.",
  wrong: "Something went wrong.",
  "part.specificity": "Details",
  "part.actionability": "Actionable",
  "part.relevance": "About your visit",
  "part.mood": "Mood",
  quality: "Feedback quality {score} of 100",
  tip: "Tip: {hint}",
  language: "Svenska",
  "duration.year": "{n} year",
  "duration.years": "{n} years",
  "duration.month": "{n} month",
  "duration.months": "{n} months",
  "duration.day": "{n} day",
  "duration.days": "{n} days",
  "duration.hour": "{n} hour",
  "duration.hours": "{n} hours",
} as const;

export type MessageKey = keyof typeof en;

const sv: Record<MessageKey, string> = {
  pageTitle: "Parley — berätta om ditt besök",
  title: "Hur var ditt besök?",
  store: "Butik {store}",
  start: "Jag godkänner, börja prata",
  retry: "Försök igen",
  intro: "Berätta vad som hände, med egna ord. Det tar en till tre minuter.",
  connecting: "Ansluter…",
  loading: "Laddar…",
  listening: "Lyssnar",
  restoring: "Återansluter… vänta lite",
  asking: "Parley frågar…",
  done: "Jag är klar",
  thanks: "Tack för din feedback!",
  startOver: "Lämna feedback om ett annat besök",
  finalScore: "Slutbetyg:",
  noFinalScore: "Inget betyg: samtalet avbröts i förtid.",
  rewardLater: "Din belöning räknas ut från betyget…",
  "reward.notYet": "Din belöning tar längre tid än vanligt att bestämma. Kolla igen om en stund.",
  "reward.checkAgain": "Kolla min belöning",
  earned: "Du fick {amount}",
  "reward.claim": "Få betalt",
  "reward.claimFailed": "Utbetalningen kunde inte starta. Din belöning finns kvar: försök igen senare.",
  "reward.claimRefused":
    "Utbetalningen kunde inte starta. Din belöning finns kvar: om det fortsätter, kontakta butiken med din datakod.",
  "reward.noPayouts":
    "Utbetalningar är inte inställda för den här tjänsten, så belöningen kan inte betalas ut här. Den finns kvar registrerad med ditt samtal.",
  "reward.onItsWay": "Din belöning är på väg till ditt konto.",
  "reward.paid": "Din belöning har betalats ut till ditt konto.",
  "reward.unfinished": "Ditt utbetalningskonto är inte klart än. Slutför det för att få din belöning.",
  "reward.updateBank": "Uppdatera mina bankuppgifter",
  "claim.title": "Din belöning",
  "claim.elsewhere": "Välkommen tillbaka. Om du slutförde ditt utbetalningskonto är din belöning på väg.",
  "claim.nothing": "Det finns ingen belöning att betala ut för det här samtalet.",
  "claim.unreadable": "Din belöning kunde inte kontrolleras just nu. Ladda om sidan om en stund.",
  "claim.payoutFailed":
    "Din bank kunde inte ta emot utbetalningen. Din belöning finns kvar på ditt utbetalningskonto: uppdatera dina bankuppgifter för att få den.",
  "reward.withheld": "Det här samtalet gav ingen belöning.",
  "reward.budgetUsed": "Dagens budget för belöningar är slut. Tack ändå!",
  "reward.none": "Ingen belöning den här gången: en mer detaljerad berättelse ger en.",
  "dataCode.before": "Din datakod:",
  "dataCode.after": "(med den kan du se eller radera det du sa)",
  "dataCode.link": "Se eller radera dina uppgifter",
  "myData.title": "Dina uppgifter",
  "myData.ask": "Din datakod (visades i slutet av samtalet):",
  "myData.open": "Visa mina uppgifter",
  "myData.unknownCode":
    "Inget samtal har den här koden. Kontrollera den, eller så har samtalet raderats eller passerat sin lagringstid.",
  "myData.tooMany": "För många försök. Försök igen om {minutes} min.",
  "myData.stillGoing": "Samtalet pågår fortfarande. Avsluta det först och radera det sedan.",
  "myData.unreachable": "Kan inte nå servern. Försök igen om en stund.",
  "myData.said": "Det du sa",
  "myData.nothingSaid": "Inget du sa finns sparat.",
  "myData.score": "Slutbetyg: {score} / 100",
  "myData.reward": "Belöning: {amount} ({state})",
  "myData.reward.paid": "utbetald",
  "myData.reward.unclaimed": "inte hämtad än",
  "myData.reward.onItsWay": "på väg",
  "myData.reward.payoutFailed": "din bank kunde inte ta emot den",
  "myData.reward.other": "inte utbetald",
  "myData.kept":
    "Texten och dess betyg sparas i upp till {days}, ljudets fingeravtryck i {hours}. Själva inspelningen sparas inte.",
  "myData.download": "Ladda ner en kopia",
  "myData.delete": "Radera mina uppgifter",
  "myData.deleting": "Raderar…",
  "myData.confirm": "Radera det du sa, dess betyg och AI:ns frågor? Det går inte att ångra.",
  "myData.forfeit":
    "Din belöning på {amount} är inte hämtad än. Det är din datakod som hämtar den, och den raderas också: raderar du nu går belöningen förlorad.",
  "myData.deleteNow": "Radera",
  "myData.deleteForfeit": "Radera och avstå från belöningen",
  "myData.keep": "Behåll mina uppgifter",
  "myData.deleted": "Raderat. Inget du sa finns sparat längre.",
  "consent.title": "Innan du börjar",
  "consent.whatLabel": "Vad som spelas in:",
  "consent.what": "det du säger blir text medan du pratar. Själva inspelningen sparas inte.",
  "consent.whyLabel": "Varför:",
  "consent.why":
    "butiken läser din feedback för att bli bättre, och dess kvalitet avgör din belöning. Ett fingeravtryck av ljudet används mot fusk.",
  "consent.howLongLabel": "Hur länge:",
  "consent.howLong": "texten och dess betyg i upp till {transcript}; ljudets fingeravtryck i {voice}.",
  "consent.howLongUnknown":
    "texten och dess betyg under en begränsad tid som tjänsten bestämmer; ljudets fingeravtryck under kortare tid.",
  "consent.screenLabel": "Var den visas:",
  "consent.screen":
    "feedback som butiken godkänner kan visas på en skärm i butiken, utan telefonnummer eller e-postadresser.",
  "consent.code": "I slutet får du en kod för att se eller radera dina uppgifter när du vill.",
  "consent.act": "Genom att trycka på knappen nedan samtycker du och mikrofonen öppnas.",
  busy: "Det är fullt just nu. Försök igen om en liten stund.",
  maintenance: "Parley har underhåll just nu. Försök igen om några minuter.",
  retryIn: "Försök igen om {seconds} s",
  micReopening: "Mikrofonen stannade. Öppnar den igen…",
  micLost: "Mikrofonen stannade, så samtalet avslutades här. Det du sa är sparat.",
  micPaused: "Telefonen har pausat mikrofonen — håll skärmen tänd och Parley framme.",
  endedByAdmin: "Samtalet avslutades av vår personal. Det du hunnit säga är sparat.",
  reconnecting: "Återansluter taligenkänningen… fortsätt prata, inget går förlorat.",
  reconnectingAudio: "Återansluter ditt ljud… ett ögonblick.",
  rejoining: "Anslutningen bröts. Återansluter… det du sagt hittills finns kvar.",
  resuming: "Tar upp ditt samtal igen… det du sagt hittills finns kvar.",
  takenOver: "Ditt samtal fortsatte i en annan flik eller ett annat fönster. Det du sa här finns kvar.",
  continueHere: "Fortsätt här i stället",
  ending: "Avslutar ditt samtal…",
  serviceStopped: "Rösttjänsten stannade, så samtalet slutar här. Det du sa är sparat.",
  serviceUnavailable: "Rösttjänsten är inte tillgänglig. Försök igen.",
  interrupted: "Samtalet avbröts hos oss. Försök igen.",
  connectionLost: "Anslutningen bröts. Kontrollera nätet och försök igen.",
  micDenied: "Mikrofonen nekades. Tillåt mikrofonen för den här sidan i webbläsarens inställningar och försök igen.",
  noMic: "Ingen mikrofon hittades. Anslut en (eller använd telefonen) och försök igen.",
  "refused.expired": "Länken till samtalet har gått ut. Starta ett nytt samtal.",
  "refused.gone": "Samtalet har avslutats och kan inte fortsättas. Starta ett nytt samtal.",
  "refused.tooMany": "För många försök på kort tid. Vänta en stund och försök igen.",
  "refused.notAllowed": "Det här är inte tillåtet. Starta ett nytt samtal.",
  "refused.appError": "Något gick fel i appen. Försök igen.",
  startFailed: "Kunde inte starta ett samtal ({status}).",
  noStore: "Länken pekar inte ut någon butik: skanna butikens QR-kod igen.",
  languageUnsupported:
    "Feedback på {language} går inte att ge här än, så butiken kan inte ta emot din feedback just nu. Säg gärna till personalen.",
  storeLanguage: "butikens språk",
  unreachable: "Servern går inte att nå.",
  wrong: "Något gick fel.",
  "part.specificity": "Detaljer",
  "part.actionability": "Åtgärdbart",
  "part.relevance": "Om ditt besök",
  "part.mood": "Stämning",
  quality: "Feedbackens kvalitet {score} av 100",
  tip: "Tips: {hint}",
  language: "English",
  "duration.year": "{n} år",
  "duration.years": "{n} år",
  "duration.month": "{n} månad",
  "duration.months": "{n} månader",
  "duration.day": "{n} dag",
  "duration.days": "{n} dagar",
  "duration.hour": "{n} timme",
  "duration.hours": "{n} timmar",
};

export type Language = "en" | "sv";

export function pickLanguage(search: string, navigatorLanguage: string): Language {
  const asked = new URLSearchParams(search).get("lang");
  if (asked === "sv" || asked === "en") return asked;
  return navigatorLanguage.toLowerCase().startsWith("sv") ? "sv" : "en";
}

export function translate(language: Language, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = (language === "sv" ? sv : en)[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

export const LOCALES: Record<Language, string> = { en: "en-GB", sv: "sv-SE" };

/** How long the node keeps a conversation's data (GET /api/stores/:code: DATA_RETENTION_DAYS, VOICE_DATA_RETENTION_HOURS). */
export interface Retention {
  /** The text, its score and the rest of the conversation. */
  transcriptDays: number;
  /** The sound fingerprint (voice data). */
  voiceDataHours: number;
}

/**
 * A number of days in words: whole years (365 days) as years, whole months (30 days) from 60 days
 * as months, else days: 730 → "2 years", 180 → "6 months", 30 → "30 days". Never longer than the
 * days themselves say: a year here is 365 days, a month 30, so "up to" stays true.
 */
export function formatDays(language: Language, days: number): string {
  const unit = (one: MessageKey, many: MessageKey, n: number) => translate(language, n === 1 ? one : many, { n });
  if (days % 365 === 0) return unit("duration.year", "duration.years", days / 365);
  if (days >= 60 && days % 30 === 0) return unit("duration.month", "duration.months", days / 30);
  return unit("duration.day", "duration.days", days);
}

/** A number of hours in words: "24 hours", "1 hour"; whole days from 48 hours as days (72 → "3 days"). */
export function formatHours(language: Language, hours: number): string {
  if (hours >= 48 && hours % 24 === 0) return formatDays(language, hours / 24);
  return translate(language, hours === 1 ? "duration.hour" : "duration.hours", { n: hours });
}

/** The consent screen's "for how long" line, with the node's retention; without it (the node could not say), in general words. */
export function howLongText(language: Language, retention: Retention | undefined): string {
  if (!retention) return translate(language, "consent.howLongUnknown");
  return translate(language, "consent.howLong", {
    transcript: formatDays(language, retention.transcriptDays),
    voice: formatHours(language, retention.voiceDataHours),
  });
}

/** Changes whenever the consent screen's words do (in either language): the base of the version stored with a session. */
export const CONSENT_TEXT_VERSION = "2026-11-v2";

/**
 * Stored with the session (at most 64 characters): which consent text the customer accepted, the
 * retention it stated included: "2026-11-v2;d730;h24"; "2026-11-v2;retention-unknown" for the text
 * without figures.
 */
export function consentVersion(retention: Retention | undefined): string {
  return retention
    ? `${CONSENT_TEXT_VERSION};d${retention.transcriptDays};h${retention.voiceDataHours}`
    : `${CONSENT_TEXT_VERSION};retention-unknown`;
}

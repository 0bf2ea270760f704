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
  listening: "Listening",
  asking: "Parley is asking…",
  done: "I'm done",
  thanks: "Thank you for your feedback!",
  finalScore: "Final score:",
  rewardLater: "Your reward is calculated from this score…",
  earned: "You earned {amount}",
  "reward.claim": "Get paid",
  "reward.claimFailed": "The payment could not be started. Your reward is kept: try again later.",
  "reward.withheld": "This conversation did not qualify for a reward.",
  "reward.budgetUsed": "Today's rewards for this store are used up. Thank you all the same!",
  "reward.none": "No reward this time: a more detailed story earns one.",
  "dataCode.before": "Your data code:",
  "dataCode.after": "(with it you can see or delete what you said)",
  "consent.title": "Before you start",
  "consent.whatLabel": "What is recorded:",
  "consent.what": "what you say is turned into text while you speak. The recording itself is not kept.",
  "consent.whyLabel": "Why:",
  "consent.why":
    "the store reads your feedback to improve, and its quality decides your reward. A fingerprint of the sound is used to stop fraud.",
  "consent.howLongLabel": "For how long:",
  "consent.howLong": "the text and its score for up to 2 years; the sound fingerprint for 24 hours.",
  "consent.code": "At the end you get a code to see or delete your data at any time.",
  "consent.act": "Tapping the button below gives your consent and opens the microphone.",
  busy: "We're busy right now. Please try again in a moment.",
  retryIn: "Try again in {seconds} s",
  micReopening: "Your microphone stopped. Opening it again…",
  micLost: "Your microphone stopped, so the conversation ended here. What you said is kept.",
  endedByAdmin: "This conversation was ended by our staff. What you said so far has been kept.",
  reconnecting: "Reconnecting the speech service… keep talking, nothing is lost.",
  reconnectingAudio: "Reconnecting your audio… one moment.",
  rejoining: "The connection dropped. Reconnecting… what you said so far is kept.",
  serviceStopped: "The voice service stopped, so the conversation ends here. What you said is kept.",
  serviceUnavailable: "The voice service is not available. Please try again.",
  interrupted: "The call was interrupted on our side. Please try again.",
  connectionLost: "Connection lost. Check your network and try again.",
  micDenied:
    "Microphone access was denied. Allow the microphone for this page in your browser settings, then try again.",
  noMic: "No microphone was found. Connect one (or use your phone) and try again.",
  refused: "The server refused: {message}",
  startFailed: "Could not start a session ({status}).",
  unreachable: "Cannot reach the server.",
  wrong: "Something went wrong.",
  "part.specificity": "Details",
  "part.actionability": "Actionable",
  "part.relevance": "About your visit",
  "part.mood": "Mood",
  quality: "Feedback quality {score} of 100",
  tip: "Tip: {hint}",
  language: "Svenska",
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
  listening: "Lyssnar",
  asking: "Parley frågar…",
  done: "Jag är klar",
  thanks: "Tack för din feedback!",
  finalScore: "Slutbetyg:",
  rewardLater: "Din belöning räknas ut från betyget…",
  earned: "Du fick {amount}",
  "reward.claim": "Få betalt",
  "reward.claimFailed": "Utbetalningen kunde inte starta. Din belöning finns kvar: försök igen senare.",
  "reward.withheld": "Det här samtalet gav ingen belöning.",
  "reward.budgetUsed": "Dagens belöningar för butiken är slut. Tack ändå!",
  "reward.none": "Ingen belöning den här gången: en mer detaljerad berättelse ger en.",
  "dataCode.before": "Din datakod:",
  "dataCode.after": "(med den kan du se eller radera det du sa)",
  "consent.title": "Innan du börjar",
  "consent.whatLabel": "Vad som spelas in:",
  "consent.what": "det du säger blir text medan du pratar. Själva inspelningen sparas inte.",
  "consent.whyLabel": "Varför:",
  "consent.why":
    "butiken läser din feedback för att bli bättre, och dess kvalitet avgör din belöning. Ett fingeravtryck av ljudet används mot fusk.",
  "consent.howLongLabel": "Hur länge:",
  "consent.howLong": "texten och dess betyg i upp till 2 år; ljudets fingeravtryck i 24 timmar.",
  "consent.code": "I slutet får du en kod för att se eller radera dina uppgifter när du vill.",
  "consent.act": "Genom att trycka på knappen nedan samtycker du och mikrofonen öppnas.",
  busy: "Det är fullt just nu. Försök igen om en liten stund.",
  retryIn: "Försök igen om {seconds} s",
  micReopening: "Mikrofonen stannade. Öppnar den igen…",
  micLost: "Mikrofonen stannade, så samtalet avslutades här. Det du sa är sparat.",
  endedByAdmin: "Samtalet avslutades av vår personal. Det du hunnit säga är sparat.",
  reconnecting: "Återansluter taligenkänningen… fortsätt prata, inget går förlorat.",
  reconnectingAudio: "Återansluter ditt ljud… ett ögonblick.",
  rejoining: "Anslutningen bröts. Återansluter… det du sagt hittills finns kvar.",
  serviceStopped: "Rösttjänsten stannade, så samtalet slutar här. Det du sa är sparat.",
  serviceUnavailable: "Rösttjänsten är inte tillgänglig. Försök igen.",
  interrupted: "Samtalet avbröts hos oss. Försök igen.",
  connectionLost: "Anslutningen bröts. Kontrollera nätet och försök igen.",
  micDenied: "Mikrofonen nekades. Tillåt mikrofonen för den här sidan i webbläsarens inställningar och försök igen.",
  noMic: "Ingen mikrofon hittades. Anslut en (eller använd telefonen) och försök igen.",
  refused: "Servern nekade: {message}",
  startFailed: "Kunde inte starta ett samtal ({status}).",
  unreachable: "Servern går inte att nå.",
  wrong: "Något gick fel.",
  "part.specificity": "Detaljer",
  "part.actionability": "Åtgärdbart",
  "part.relevance": "Om ditt besök",
  "part.mood": "Stämning",
  quality: "Feedbackens kvalitet {score} av 100",
  tip: "Tips: {hint}",
  language: "English",
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

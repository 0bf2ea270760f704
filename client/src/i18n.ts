// The customer app in Swedish and English: ?lang=sv|en, else the browser's
// language. Every string the customer sees is here.
const en = {
  title: "How was your visit?",
  store: "Store {store}",
  start: "Start talking",
  retry: "Try again",
  intro: "Tell us what happened, in your own words. It takes one to three minutes.",
  connecting: "Connecting…",
  listening: "Listening",
  asking: "Parley is asking…",
  done: "I'm done",
  thanks: "Thank you for your feedback!",
  finalScore: "Final score:",
  rewardLater: "Your reward is calculated from this score.",
  earned: "You earned {amount}",
  endedByAdmin: "This conversation was ended by our staff. What you said so far has been kept.",
  reconnecting: "Reconnecting the speech service… keep talking, nothing is lost.",
  serviceStopped: "The voice service stopped: {detail}. Please try again.",
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
  title: "Hur var ditt besök?",
  store: "Butik {store}",
  start: "Börja prata",
  retry: "Försök igen",
  intro: "Berätta vad som hände, med egna ord. Det tar en till tre minuter.",
  connecting: "Ansluter…",
  listening: "Lyssnar",
  asking: "Parley frågar…",
  done: "Jag är klar",
  thanks: "Tack för din feedback!",
  finalScore: "Slutbetyg:",
  rewardLater: "Din belöning räknas ut från betyget.",
  earned: "Du fick {amount}",
  endedByAdmin: "Samtalet avslutades av vår personal. Det du hunnit säga är sparat.",
  reconnecting: "Återansluter taligenkänningen… fortsätt prata, inget går förlorat.",
  serviceStopped: "Rösttjänsten stannade: {detail}. Försök igen.",
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

// What the customer's screens show of their conversation: the phase (which
// screen), what went wrong, the live transcript, score and question, the end
// and its reward. Signals, set by the conversation (conversation.ts) and read
// by the screens (screens/).
import type { ConversationEnded, FeedbackScore } from "@parley/proto/live";
import { createSignal } from "solid-js";
import type { CustomerAccess } from "./claim.ts";
import type { MessageKey } from "./i18n.ts";
import { t } from "./locale.ts";
import { type Message, say } from "./message.ts";
import { storeCode } from "./pageLink.ts";
import type { ShownReward } from "./reward.ts";
import type { PublicStore } from "./store.ts";
import type { ShownSegment } from "./transcript.ts";

/**
 * checking: the store the link names is being looked up. unavailable: nothing can be started here
 * (the link names no store, or no speech worker takes the store's language): said, with no start.
 * moved: another tab or window took the conversation over.
 */
export type Phase = "checking" | "unavailable" | "idle" | "starting" | "live" | "moved" | "ending" | "ended" | "error";

/** What the AI's voice is doing: a reply announces itself, a new connection forgets the old one's. */
export type AiSpeech = "none" | "speaking" | "done" | "interrupted";

export type ConversationState = ReturnType<typeof createConversationState>;

export function createConversationState() {
  // A link without a store is said at once; one with a store is looked up first (onMount).
  const [phase, setPhase] = createSignal<Phase>(storeCode ? "checking" : "unavailable");
  // Kept as keys, translated where shown: a switch of language translates what is on screen too.
  const [problem, setProblem] = createSignal<Message>(storeCode ? undefined : say("noStore"));
  /** The store as the node knows it (its name), once looked up. */
  const [store, setStore] = createSignal<PublicStore>();
  /** The link names no store the node knows: no store line in the header. */
  const [noStore, setNoStore] = createSignal(!storeCode);
  const [notice, setNotice] = createSignal<Message>();
  /** The OS has paused the microphone (a phone call, a locked screen): the node hears silence meanwhile. */
  const [micMuted, setMicMuted] = createSignal(false);
  /** A notice of the moment, else the paused microphone's, for as long as the pause lasts. */
  const shownNotice = () => {
    const n = notice();
    return n ? t(n.key, n.params) : phase() === "live" && micMuted() ? t("micPaused") : "";
  };
  /** Clears the notice if it is still `key` (another may have replaced it meanwhile). */
  const clearNotice = (key: MessageKey) => {
    if (notice()?.key === key) setNotice(undefined);
  };
  const [segments, setSegments] = createSignal<ShownSegment[]>([]);
  const [score, setScore] = createSignal<FeedbackScore>();
  const [question, setQuestion] = createSignal<{ turn: number; text: string }>();
  const [aiSpeech, setAiSpeech] = createSignal<AiSpeech>("none");
  const aiSpeaking = () => aiSpeech() === "speaking";
  const [ending, setEnding] = createSignal<ConversationEnded>();
  /** The score on screen: an end without a final score shows none (the last live one was not the final). */
  const shownScore = () => (phase() === "ended" && ending() && !ending()?.finalScore ? undefined : score());
  const [reward, setReward] = createSignal<ShownReward>();
  /** The records were asked for the reward long enough without an answer: the customer may ask again. */
  const [rewardUnknown, setRewardUnknown] = createSignal(false);
  const [access, setAccess] = createSignal<CustomerAccess>();
  /** Seconds until a busy node asked to be tried again; 0: the retry button is live. */
  const [retryWait, setRetryWait] = createSignal(0);
  /** A dropped socket is joining again: "I'm done" waits (it would go out on the dead socket). */
  const [rejoining, setRejoining] = createSignal(false);
  /** The audio is being set up again on the same socket (the node moved the session's media). */
  const [audioResetting, setAudioResetting] = createSignal(false);
  /** Nothing the customer says is heard meanwhile: the status line says so instead of "Listening". */
  const restoring = () => rejoining() || audioResetting();

  return {
    phase,
    setPhase,
    problem,
    setProblem,
    store,
    setStore,
    noStore,
    setNoStore,
    notice,
    setNotice,
    shownNotice,
    clearNotice,
    micMuted,
    setMicMuted,
    segments,
    setSegments,
    score,
    setScore,
    question,
    setQuestion,
    aiSpeech,
    setAiSpeech,
    aiSpeaking,
    ending,
    setEnding,
    shownScore,
    reward,
    setReward,
    rewardUnknown,
    setRewardUnknown,
    access,
    setAccess,
    retryWait,
    setRetryWait,
    rejoining,
    setRejoining,
    audioResetting,
    setAudioResetting,
    restoring,
  };
}

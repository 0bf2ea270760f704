import { create } from "@bufbuild/protobuf";
import {
  AiSpeechState,
  type ConversationEnded,
  ConversationEndedSchema,
  EndReason,
  type FeedbackScore,
  RewardStatus,
  StreamState,
} from "@parley/proto/live";
import { ErrorCode } from "@parley/proto/ws";
import { createEffect, createSignal, For, Match, onCleanup, onMount, Show, Switch } from "solid-js";
import { ClaimReward, RewardState } from "./ClaimReward.tsx";
import type { CustomerAccess } from "./claim.ts";
import { Connection, ConnectionLost, ServerError } from "./connection.ts";
import { DataCode } from "./DataCode.tsx";
import { consentVersion, howLongText, type MessageKey } from "./i18n.ts";
import {
  type EndedConversation,
  endedConversation,
  forgetConversation,
  forgetEnded,
  type KeptConversation,
  keepConversation,
  keepEnded,
  keepShown,
  keptConversation,
  shownSoFar,
} from "./keptConversation.ts";
import { formatReward, language, languageName, switchLanguage, t } from "./locale.ts";
import { refusalMessage } from "./refusals.ts";
import { fromUpdate, pollRecordedReward, type ShownReward } from "./reward.ts";
import { ScoreGauge } from "./ScoreGauge.tsx";
import { lookUpStore, type PublicStore } from "./store.ts";
import { applySegment, type ShownSegment } from "./transcript.ts";
import { connectVoice, MicrophoneDeniedError, NoMicrophoneError, openMicrophone, type VoiceLink } from "./voice.ts";
import { ScreenWakeLock } from "./wakeLock.ts";

/**
 * checking: the store the link names is being looked up. unavailable: nothing can be started here
 * (the link names no store, or no speech worker takes the store's language): said, with no start.
 * moved: another tab or window took the conversation over.
 */
type Phase = "checking" | "unavailable" | "idle" | "starting" | "live" | "moved" | "ending" | "ended" | "error";

/** The node refused a new session for now (no speech capacity, or too many attempts). */
class BusyError extends Error {
  constructor(
    readonly retryAfterMs: number,
    /** The deployment is in maintenance (MAINTENANCE_MODE): said as such. */
    readonly maintenance = false,
  ) {
    super("busy");
  }
}

/** The node answered the new session with an error status other than busy. */
class StartRefusedError extends Error {
  constructor(readonly status: number) {
    super(`POST /api/sessions: ${status}`);
  }
}

/** The node takes no conversation in the store's language (POST /api/sessions: 422, language_unsupported). */
class LanguageUnsupportedError extends Error {
  constructor(readonly language: string) {
    super(`no speech worker takes ${language || "the store's language"}`);
  }
}

/** The node knows no store with the link's code (POST /api/sessions: 404). */
class UnknownStoreError extends Error {}

/** The longest wait a busy node's hint may impose on the retry button. */
const MAX_RETRY_WAIT_MS = 60_000;

/** A 429/503's Retry-After (seconds), in milliseconds; 0 without one. */
const retryAfterOf = (res: Response) => Math.min(Number(res.headers.get("retry-after")) * 1000 || 0, MAX_RETRY_WAIT_MS);

const params = new URLSearchParams(location.search);
/** The store the link (its QR code) names; none: nothing can be started (no default store). */
const storeCode = params.get("store") ?? "";
const rawAudio = params.get("audio") === "raw";
/** The purchase or receipt this feedback is about, when the store's QR code carries it. */
const receipt = params.get("receipt") ?? undefined;

/** A dropped socket tries to join again this many times (about 45 s with the back-off). */
const REJOIN_ATTEMPTS = 14;
/**
 * How many times in a row the app sets its audio up again when the node's media went away under the
 * setup (a media request answered NOT_FOUND: the node moved the media again, its MediaReset on the way).
 */
const MEDIA_SETUP_ATTEMPTS = 5;

/** A media request answered "unknown": the media it named was replaced, the session lives on. */
const mediaGone = (error: unknown) => error instanceof ServerError && error.code === ErrorCode.NOT_FOUND;
/** After the conversation ends, how long the socket stays open for the reward decision (then records are asked). */
const REWARD_WAIT_MS = 10_000;
/**
 * How long "I'm done" waits for the node's answer: it comes once the conversation is closed (the
 * speech worker's last words, up to 30 s, then the final score), well past an ordinary request's timeout.
 */
const END_TIMEOUT_MS = 60_000;
/** The node closes a customer's socket with this code when another connection joined its session (another tab). */
const TAKEN_OVER = 4002;
/** Notices that stay true once the conversation has ended (they say why it ended); the others go with the conversation. */
const LASTING_NOTICES: readonly MessageKey[] = ["micLost", "serviceStopped"];

/** A random id kept on this device (no personal data): the server stores only a keyed hash of it, against abuse. */
function deviceId(): string | undefined {
  try {
    let id = localStorage.getItem("parley-device");
    if (!id) {
      id = crypto.randomUUID();
      localStorage.setItem("parley-device", id);
    }
    return id;
  } catch {
    return undefined; // storage disabled: no device id
  }
}

/** Something to tell the customer, translated when shown (in the language of that moment). */
type Message = { key: MessageKey; params?: Record<string, string | number> } | undefined;
const say = (key: MessageKey, params?: Record<string, string | number>): Message => ({
  key,
  ...(params ? { params } : {}),
});

/** A message in the language of the moment (a language's name too). */
function shown(m: NonNullable<Message>): string {
  if (m.key === "languageUnsupported") return t(m.key, { language: languageName(String(m.params?.language ?? "")) });
  return t(m.key, m.params);
}

export function App() {
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
  const [segments, setSegments] = createSignal<ShownSegment[]>([]);
  const [score, setScore] = createSignal<FeedbackScore>();
  const [question, setQuestion] = createSignal<{ turn: number; text: string }>();
  const [aiSpeech, setAiSpeech] = createSignal<"none" | "speaking" | "done" | "interrupted">("none");
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
  let retryTicker: ReturnType<typeof setInterval> | undefined;
  /** Ends the wait for the reward on the socket: it arrived, or the socket closed. */
  let rewardWaitOver: (() => void) | undefined;
  /** Counts the asks of the records for a reward: one whose number is not the latest stops. */
  let rewardCheck = 0;
  let connection: Connection | undefined;
  let voice: VoiceLink | undefined;
  let microphone: MediaStreamTrack | undefined;
  /** Where this conversation's socket joins, and with which token (a dropped socket joins again). */
  let session: { url: string; token: string } | undefined;
  /** A dropped socket is joining again: "I'm done" waits (it would go out on the dead socket). */
  const [rejoining, setRejoining] = createSignal(false);
  /** The audio is being set up again on the same socket (the node moved the session's media). */
  const [audioResetting, setAudioResetting] = createSignal(false);
  /** Nothing the customer says is heard meanwhile: the status line says so instead of "Listening". */
  const restoring = () => rejoining() || audioResetting();
  /** Media being set up again after a MediaReset; a second reset meanwhile sets it up once more after. */
  let mediaReset: { again: boolean } | undefined;
  let aiAudio: HTMLAudioElement | undefined;
  const wakeLock = new ScreenWakeLock();
  // A phone whose screen locks takes the microphone away: the screen stays on while the customer
  // talks (the phase stays live while the app joins again or reconnects its audio).
  createEffect(() => (phase() === "live" ? wakeLock.hold() : wakeLock.release()));
  // A pull-to-refresh would reload the page mid-conversation: the page does not overscroll then (style.css).
  createEffect(() =>
    document.documentElement.classList.toggle("in-conversation", phase() === "live" || phase() === "ending"),
  );
  // What the customer saw so far, kept with the conversation for a reload (finals only: a partial changes).
  let keptShown = "";
  createEffect(() => {
    if (phase() !== "live") return;
    const finals = segments()
      .filter((s) => s.isFinal)
      .map(({ id, text }) => ({ id, text }));
    const q = question();
    const s = score();
    const shown = JSON.stringify([finals, q, s]);
    if (shown === keptShown) return;
    keptShown = shown;
    keepShown({ finals, ...(q ? { question: q } : {}), ...(s ? { score: s } : {}) });
  });

  const hangUp = () => {
    voice?.stop();
    voice = undefined;
    microphone?.stop();
    microphone = undefined;
    connection?.close();
  };
  const fail = (message: Message) => {
    forgetConversation();
    setProblem(message);
    setPhase("error");
    hangUp();
  };
  /** Nothing can be started from this page (no such store, its language not taken): said, with no start button. */
  const unavailable = (message: Message, unknownStore = false) => {
    forgetConversation();
    setNoStore(unknownStore);
    setProblem(message);
    setPhase("unavailable");
    hangUp();
  };
  /** Clears the notice if it is still `key` (another may have replaced it meanwhile). */
  const clearNotice = (key: MessageKey) => {
    if (notice()?.key === key) setNotice(undefined);
  };
  /** Busy: say so, and hold the retry button for as long as the node asked. */
  const failBusy = (retryAfterMs: number, message: MessageKey = "busy") => {
    fail(say(message));
    clearInterval(retryTicker);
    const until = Date.now() + Math.min(retryAfterMs, MAX_RETRY_WAIT_MS);
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      setRetryWait(Math.max(left, 0));
      if (left <= 0) clearInterval(retryTicker);
    };
    tick();
    if (retryWait() > 0) retryTicker = setInterval(tick, 250);
  };
  /** Says what stopped the conversation in the customer's language; the technical detail goes to the console, for support. */
  const failWith = (error: unknown) => {
    if (error instanceof MicrophoneDeniedError) fail(say("micDenied"));
    else if (error instanceof NoMicrophoneError) fail(say("noMic"));
    else if (error instanceof BusyError) failBusy(error.retryAfterMs, error.maintenance ? "maintenance" : "busy");
    // Trying again would not help (no countdown, no button): the store must be served first.
    else if (error instanceof LanguageUnsupportedError)
      unavailable(say("languageUnsupported", { language: error.language }));
    else if (error instanceof UnknownStoreError) unavailable(say("noStore"), true);
    else if (error instanceof StartRefusedError) fail(say("startFailed", { status: error.status }));
    else if (error instanceof ConnectionLost)
      fail(say(error.reason === "unreachable" ? "unreachable" : "connectionLost"));
    else if (error instanceof ServerError) {
      console.warn("the node refused:", ErrorCode[error.code], error.message);
      // Both come with how long to wait before trying again.
      if (error.code === ErrorCode.UNAVAILABLE || error.code === ErrorCode.RATE_LIMITED)
        failBusy(error.retryAfterMs, refusalMessage(error.code));
      else fail(say(refusalMessage(error.code)));
    } else {
      console.warn("the conversation failed:", error);
      fail(say("wrong"));
    }
  };

  async function start() {
    // Stored with the session: which consent text the customer accepted (its retention figures with it).
    const consent = { given: true, version: consentVersion(store()?.retention) };
    setPhase("starting");
    setProblem(undefined);
    setNotice(undefined);
    setAiSpeech("none");
    setAccess(undefined);
    setSegments([]);
    setScore(undefined);
    setQuestion(undefined);
    setEnding(undefined);
    setReward(undefined);
    setRewardUnknown(false);
    rewardCheck++; // an earlier conversation's reward is no longer asked for
    try {
      // Consent is given on the screen before this: the microphone opens only now.
      microphone = watched(await openMicrophone(rawAudio));
      setMicMuted(microphone.muted);
      const res = await fetch("/api/sessions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          storeCode,
          consent,
          deviceId: deviceId(),
          ...(receipt ? { receipt } : {}),
        }),
      }).catch(() => {
        throw new ConnectionLost("unreachable"); // the browser's own words ("Failed to fetch") are English
      });
      if (res.status === 503 || res.status === 429) {
        const refusal = (await res.json().catch(() => ({}))) as { reason?: string };
        throw new BusyError(retryAfterOf(res), refusal.reason === "maintenance");
      }
      if (res.status === 404) throw new UnknownStoreError(); // removed since the page looked it up
      if (res.status === 422) {
        const refusal = (await res.json().catch(() => ({}))) as { reason?: unknown; language?: unknown };
        if (refusal.reason === "language_unsupported")
          throw new LanguageUnsupportedError(typeof refusal.language === "string" ? refusal.language : "");
      }
      if (!res.ok) throw new StartRefusedError(res.status);
      const { token, sessionId, dataCode, wsUrl, expiresAt } = (await res.json()) as {
        token: string;
        sessionId: string;
        dataCode?: string;
        /** Present when the conversation was placed on another node. */
        wsUrl?: string;
        /** When the token expires (ISO 8601). */
        expiresAt?: string;
      };
      setAccess(dataCode ? { sessionId, dataCode } : undefined);
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      session = { url: wsUrl ?? `${scheme}://${location.host}/ws`, token };
      connection = await Connection.join(session.url, session.token, listen);
      // Joined: a reload from here on takes this conversation up again (the token's life, 15 minutes without a hint).
      keepConversation({
        store: storeCode,
        url: session.url,
        token,
        sessionId,
        ...(dataCode ? { dataCode } : {}),
        expiresAtMs: Date.parse(expiresAt ?? "") || Date.now() + 15 * 60_000,
      });
      await openVoice(connection, microphone);
      setPhase("live");
      // A microphone that ended while the call was being set up was not reopened then (not live yet).
      if (microphone?.readyState === "ended") void microphoneEnded();
    } catch (error) {
      // Already failed, with its own reason (the speech service is unavailable, the node closed
      // the socket): the setup's own rejection that follows says less.
      if (phase() !== "starting") return;
      failWith(error);
    }
  }

  /**
   * The page was reloaded mid-conversation (a pull-to-refresh, the phone discarded the tab in the
   * background): the microphone is opened again (a refusal fails as at the start) and the
   * conversation is taken up again as after a dropped connection, within the node's rejoin grace.
   * One that ended meanwhile is refused: the data code stays on screen, and the reward if any.
   */
  async function resume(kept: KeptConversation) {
    setPhase("starting");
    setAccess(kept.dataCode ? { sessionId: kept.sessionId, dataCode: kept.dataCode } : undefined);
    const shown = shownSoFar();
    setSegments(shown.finals.map((f) => ({ ...f, isFinal: true })));
    setQuestion(shown.question);
    setScore(shown.score);
    session = { url: kept.url, token: kept.token };
    try {
      microphone = watched(await openMicrophone(rawAudio));
      setMicMuted(microphone.muted);
    } catch (error) {
      if (phase() === "starting") failWith(error);
      return;
    }
    if (phase() !== "starting") return;
    setPhase("live");
    // A microphone that ended meanwhile is opened again; the rejoin takes the new one up.
    if (microphone.readyState === "ended") void microphoneEnded();
    await rejoin("resuming");
  }

  /**
   * Notices the microphone ending (unplugged, permission revoked, the OS took it),
   * and the OS pausing it for a while (a phone call, a locked screen on iOS).
   */
  function watched(track: MediaStreamTrack): MediaStreamTrack {
    track.addEventListener("ended", () => {
      if (track === microphone) void microphoneEnded();
    });
    track.addEventListener("mute", () => {
      if (track === microphone) setMicMuted(true);
    });
    track.addEventListener("unmute", () => {
      if (track === microphone) setMicMuted(false);
    });
    return track;
  }

  /** Opens the microphone again and sends it on the same producer; else ends the conversation with what was said. */
  async function microphoneEnded() {
    if (phase() !== "live") return;
    // Media being set up again (a rejoin, a moved worker) keeps its notice, which says more, and
    // picks the new track up itself (openVoice).
    const settingUpMedia = () => rejoining() || mediaReset !== undefined;
    if (!settingUpMedia()) setNotice(say("micReopening"));
    try {
      const track = watched(await openMicrophone(rawAudio));
      if (phase() !== "live") {
        track.stop();
        return;
      }
      microphone = track;
      setMicMuted(track.muted);
      await voice?.replaceMicrophone(track);
      if (!settingUpMedia()) clearNotice("micReopening");
    } catch {
      setNotice(say("micLost"));
      void finish();
    }
  }

  function stopVoice() {
    voice?.stop();
    voice = undefined;
  }

  /**
   * Microphone up, the AI's voice down, on the session's media of the moment. A microphone
   * opened again meanwhile (the old track ended during the setup) replaces the one it started with.
   */
  async function openVoice(c: Connection, mic: MediaStreamTrack) {
    voice = await connectVoice(c, mic, (error) => mediaLost(c, error));
    if (microphone && microphone !== mic) await voice.replaceMicrophone(microphone);
    if (aiAudio) {
      aiAudio.srcObject = new MediaStream([voice.aiVoice]);
      // Started by the tap on "Start talking". After a reload no tap came: the browser may hold the
      // voice back until the customer touches the page.
      void aiAudio.play().catch(playOnNextTouch);
    }
  }

  function playOnNextTouch() {
    const play = () => {
      document.removeEventListener("pointerdown", play);
      document.removeEventListener("keydown", play);
      void aiAudio?.play().catch(() => {});
    };
    document.addEventListener("pointerdown", play);
    document.addEventListener("keydown", play);
  }

  /** ICE restarts did not bring a transport back: set the media up again on the same socket. */
  function mediaLost(c: Connection, error: unknown) {
    if (c !== connection || phase() !== "live" || rejoining()) return;
    console.warn("audio connection lost:", error);
    if (error instanceof ConnectionLost) {
      // The node left the restart unanswered: as when it leaves a media setup unanswered, give
      // that socket up and join again (a closed one joins again through its close handler).
      if (!c.open) return;
      c.abandon();
      void rejoin();
    } else void reconnectVoice();
  }

  /** The node moved the session's media to another worker: set the transports up again; the conversation goes on. */
  async function reconnectVoice() {
    if (mediaReset) {
      mediaReset.again = true; // the node's media changed again under the setup in progress
      return;
    }
    const c = connection;
    if (!c || !microphone || phase() !== "live" || rejoining()) return; // a rejoin sets media up itself
    mediaReset = { again: false };
    setAudioResetting(true);
    setNotice(say("reconnectingAudio"));
    try {
      let setups = 0;
      do {
        mediaReset.again = false;
        stopVoice();
        const mic = microphone;
        if (!mic) return; // hung up meanwhile
        try {
          await openVoice(c, mic);
        } catch (error) {
          // Moved again under this setup: its new media may not be ready yet (its MediaReset comes
          // then), so wait a little, longer each time. An ended session closes the socket.
          if (!mediaGone(error) || !c.open || ++setups >= MEDIA_SETUP_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** setups, 4_000)));
          mediaReset.again = true;
        }
      } while (mediaReset.again && c === connection && phase() === "live");
      clearNotice("reconnectingAudio");
    } catch (error) {
      if (c !== connection || rejoining() || phase() !== "live") return;
      if (error instanceof ConnectionLost) {
        // The socket dropped meanwhile: its close handler joins again and sets the media up.
        if (!c.open) return;
        // Or it is open but the node stopped answering (a request timed out): no close will come,
        // so give it up and join again as after a drop.
        c.abandon();
        void rejoin();
        return;
      }
      failWith(error);
    } finally {
      mediaReset = undefined;
      setAudioResetting(false);
    }
  }

  /** The live events and the end of one connection to the session's node. */
  function listen(c: Connection) {
    c.onEvent = (event) => {
      const kind = event.kind;
      switch (kind.case) {
        case "transcript":
          setSegments((s) => applySegment(s, kind.value));
          break;
        case "score":
          if (!kind.value.isFinal) setScore(kind.value);
          break;
        case "aiTurn":
          setQuestion({ turn: kind.value.turn, text: kind.value.text });
          break;
        case "aiSpeech":
          setAiSpeech(
            kind.value.state === AiSpeechState.SPEAKING
              ? "speaking"
              : kind.value.state === AiSpeechState.INTERRUPTED
                ? "interrupted"
                : "done",
          );
          break;
        case "conversationEnded":
          setEnding(kind.value);
          if (kind.value.finalScore) setScore(kind.value.finalScore);
          void finish();
          break;
        case "mediaReset":
          void reconnectVoice();
          break;
        case "reward":
          setReward(fromUpdate(kind.value));
          rewardWaitOver?.();
          break;
        case "status": {
          const { state } = kind.value;
          // The speech service's state matters while the customer talks: not on the end screen.
          if (state === StreamState.RECONNECTING && (phase() === "live" || phase() === "starting"))
            setNotice(say("reconnecting"));
          else if (state === StreamState.LIVE) clearNotice("reconnecting");
          // For good (no speech worker, or no media worker, will take it): the conversation ends
          // with what was said, its score and its data code.
          else if (state === StreamState.FAILED && phase() === "live") {
            setNotice(say("serviceStopped"));
            void finish();
          } else if (state === StreamState.FAILED && phase() === "starting") fail(say("serviceUnavailable"));
          break;
        }
      }
    };
    // Open but carrying nothing (the network switched under it): no close will come for minutes.
    c.onSilent = () => {
      if (c !== connection) return;
      c.abandon();
      if (phase() === "ending" || phase() === "ended") rewardWaitOver?.();
      else if (phase() === "starting") fail(say("connectionLost"));
      else if (phase() === "live") void rejoin();
    };
    c.onClose = (code) => {
      // Only the current connection speaks for the session: one still joining fails its join instead.
      if (c !== connection) return;
      // Ended: no reward will come on this socket any more (the records are asked instead).
      if (phase() === "ending" || phase() === "ended") rewardWaitOver?.();
      // Another tab or window joined the conversation (a duplicated tab, the link opened twice).
      else if (code === TAKEN_OVER && (phase() === "live" || phase() === "starting")) takenOver();
      else if (phase() === "starting") fail(say(code === 4001 ? "interrupted" : "connectionLost"));
      else if (phase() === "live") {
        // Closed on purpose by the node (media lost for good, idle or flooding): say so.
        if (code >= 4000 || code === 1000) fail(say(code === 4001 ? "interrupted" : "connectionLost"));
        // The connection dropped (the network, or the node restarted): join again with the same token.
        else void rejoin();
      }
    };
  }

  /**
   * Another tab or window took the conversation over: this one lets go of the microphone and
   * says so, keeping what it showed (the transcript, the score, the data code) and the
   * conversation's token, with which "Continue here" takes it back.
   */
  function takenOver() {
    setPhase("moved");
    setNotice(undefined);
    setAiSpeech("none");
    stopVoice();
    microphone?.stop();
    microphone = undefined;
  }

  /** Takes the conversation back from the other tab, as a reload of this one would. */
  function continueHere() {
    const kept = keptConversation(storeCode);
    if (!kept) return fail(say("refused.expired")); // its token ran out meanwhile
    void resume(kept);
  }

  /**
   * The socket dropped mid-conversation: join again (the node resumes the
   * conversation, from its records if it restarted) and set the audio up
   * again; the transcript so far comes back by segment id, so nothing shows twice.
   */
  async function rejoin(why: MessageKey = "rejoining") {
    const joinAt = session;
    if (!microphone || !joinAt) return fail(say("connectionLost"));
    if (rejoining()) return; // one loop at a time: two would take the session from each other
    setRejoining(true);
    voice?.stop();
    voice = undefined;
    // Whatever the AI was saying died with the old connection; a new reply announces itself.
    setAiSpeech("none");
    setNotice(say(why));
    /** The node's answer that ended the attempts, if it gave one. */
    let refusal: ServerError | undefined;
    try {
      for (let attempt = 0; attempt < REJOIN_ATTEMPTS && phase() === "live"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 4_000)));
        let joined: Connection | undefined;
        // The microphone of this attempt: it may have been opened again since the last.
        const mic = microphone;
        if (!mic) break; // hung up meanwhile
        try {
          joined = await Connection.join(joinAt.url, joinAt.token, listen);
          connection = joined;
          await openVoice(joined, mic);
          setNotice(undefined);
          return;
        } catch (error) {
          // Joined but no audio: that socket is given up on, quietly (its close must not end the session).
          joined?.abandon();
          stopVoice(); // what openVoice got up before it failed
          // The conversation is gone (ended, or its token expired): no point trying again. (A media
          // request's NOT_FOUND after the join succeeded is media moved under the setup: try again.)
          if (error instanceof ServerError && error.code !== ErrorCode.UNAVAILABLE && !(joined && mediaGone(error))) {
            refusal = error;
            break;
          }
        }
      }
      if (phase() === "live") {
        failWith(refusal ?? new ConnectionLost("lost"));
        // The conversation ended meanwhile (while away, or the page was reloaded too late): its reward, if
        // any, is decided all the same.
        if (refusal?.code === ErrorCode.NOT_FOUND) void rewardFromRecords();
      }
    } finally {
      setRejoining(false);
    }
  }

  /** The customer is done (or the AI ended the conversation): the final score arrives before the reply. */
  async function finish() {
    if (phase() !== "live") return;
    setPhase("ending");
    forgetConversation(); // a reload now would find the conversation ended
    // What was true while the customer talked (reconnecting, ...) is not of the end: only why it ended stays.
    const n = notice();
    if (n && !LASTING_NOTICES.includes(n.key)) setNotice(undefined);
    try {
      await connection?.request({ case: "endSession", value: {} }, "sessionEnded", END_TIMEOUT_MS);
    } catch {
      /* what we have is shown (ended already, or the connection went: the reward is asked of the records) */
    }
    voice?.stop();
    voice = undefined;
    microphone?.stop();
    microphone = undefined;
    setPhase("ended");
    keepEndScreen();
    // The reward is decided from the stored conversation just after it ends: keep listening for it a moment.
    if (!reward() && connection?.open)
      await new Promise<void>((resolve) => {
        rewardWaitOver = resolve;
        setTimeout(resolve, REWARD_WAIT_MS);
      });
    rewardWaitOver = undefined;
    hangUp();
    // It did not come on the socket (a slow decision, a lost connection): the records have it.
    if (!reward()) void rewardFromRecords();
  }

  /** A reload from here on shows this end screen again (the reward is asked of the records then). */
  function keepEndScreen() {
    const e = ending();
    const a = access();
    // An end without a final score is kept as such (a reload says so too), not as the last live score.
    const finalScore = e ? e.finalScore : score();
    keepEnded({
      store: storeCode,
      sessionId: a?.sessionId ?? "",
      ...(a ? { dataCode: a.dataCode } : {}),
      reason: e?.reason ?? EndReason.CUSTOMER,
      summary: e?.summary ?? "",
      ...(finalScore ? { finalScore } : {}),
      finals: segments()
        .filter((s) => s.isFinal)
        .map(({ id, text }) => ({ id, text })),
      endedAtMs: Date.now(),
    });
  }

  /** The page was reloaded on the end screen: the same end again, its reward from the records. */
  function showEnded(ended: EndedConversation) {
    setAccess(ended.dataCode ? { sessionId: ended.sessionId, dataCode: ended.dataCode } : undefined);
    setSegments(ended.finals.map((f) => ({ ...f, isFinal: true })));
    setScore(ended.finalScore);
    setEnding(
      create(ConversationEndedSchema, {
        reason: ended.reason,
        summary: ended.summary,
        ...(ended.finalScore ? { finalScore: ended.finalScore } : {}),
      }),
    );
    setPhase("ended");
    void rewardFromRecords();
  }

  /** The customer starts another conversation from the end screen: the consent screen, as on a first visit. */
  function startOver() {
    forgetEnded();
    rewardCheck++; // the ended conversation's reward is no longer asked for
    setNotice(undefined);
    setProblem(undefined);
    setPhase("idle");
  }

  /** Asks the records for the reward until it is decided (bounded); says so if it is not in time. */
  async function rewardFromRecords() {
    const a = access();
    if (!a) return;
    const check = ++rewardCheck;
    setRewardUnknown(false);
    const found = await pollRecordedReward(a, { wanted: () => check === rewardCheck && !reward() });
    if (check !== rewardCheck || reward()) return;
    if (found) setReward(found);
    else setRewardUnknown(true);
  }

  onMount(() => {
    if (!storeCode) return; // said already: no store, nothing to look up
    const kept = keptConversation(storeCode);
    const ended = kept ? undefined : endedConversation(storeCode);
    if (kept) void resume(kept);
    else if (ended) showEnded(ended);
    void checkStore();
  });

  /**
   * Looks the link's store up before the consent screen is shown: a store the node does not know
   * is said at once (no microphone asked for). A conversation taken up again (or its end screen)
   * does not wait for it: its store was known then.
   */
  async function checkStore() {
    const found = await lookUpStore(storeCode);
    if (found.kind === "found") setStore(found.store);
    if (phase() !== "checking") return;
    if (found.kind === "unknown") unavailable(say("noStore"), true);
    // Found, or the node could not say now: the consent screen (a start says what is wrong, if anything).
    else setPhase("idle");
  }

  onCleanup(() => {
    rewardCheck++;
    clearInterval(retryTicker);
    wakeLock.release();
    hangUp();
  });

  /** What went wrong, in the customer's language: shown before the consent or on its own. */
  const ProblemShown = () => (
    <Show when={problem()}>
      {(m) => (
        <p class="problem" role="alert" data-testid="problem" data-kind={m().key}>
          {shown(m())}
        </p>
      )}
    </Show>
  );

  return (
    <main class="app">
      <header>
        <div class="heading">
          <h1>{t("title")}</h1>
          <Show when={!noStore()}>
            <p class="store" data-testid="store">
              {store()?.name ?? t("store", { store: storeCode })}
            </p>
          </Show>
        </div>
        <button type="button" class="language" data-testid="language" onClick={switchLanguage}>
          {t("language")}
        </button>
      </header>
      {/* biome-ignore lint/a11y/useMediaCaption: the AI's words are shown on screen as the question text */}
      <audio ref={aiAudio} autoplay data-testid="ai-voice" />
      <Switch>
        <Match when={phase() === "checking"}>
          <p class="status" role="status" data-testid="checking">
            {t("loading")}
          </p>
        </Match>
        <Match when={phase() === "unavailable"}>
          <ProblemShown />
        </Match>
        <Match when={phase() === "idle" || phase() === "error"}>
          <ProblemShown />
          <Show when={phase() === "error" && access()}>{(a) => <DataCode code={a().dataCode} />}</Show>
          <Show when={phase() === "error" && reward()}>{(r) => <RewardShown reward={r()} access={access()} />}</Show>
          <section class="consent" data-testid="consent">
            <h2>{t("consent.title")}</h2>
            <ul>
              <li>
                <strong>{t("consent.whatLabel")}</strong> {t("consent.what")}
              </li>
              <li>
                <strong>{t("consent.whyLabel")}</strong> {t("consent.why")}
              </li>
              <li data-testid="consent-how-long">
                <strong>{t("consent.howLongLabel")}</strong> {howLongText(language(), store()?.retention)}
              </li>
              <li data-testid="consent-screen">
                <strong>{t("consent.screenLabel")}</strong> {t("consent.screen")}
              </li>
              <li>{t("consent.code")}</li>
            </ul>
            <p class="consent-act">{t("consent.act")}</p>
          </section>
          <button class="primary" type="button" data-testid="start" onClick={start} disabled={retryWait() > 0}>
            {phase() !== "error" ? t("start") : retryWait() > 0 ? t("retryIn", { seconds: retryWait() }) : t("retry")}
          </button>
          <p class="hint">{t("intro")}</p>
        </Match>
        <Match when={phase() === "starting"}>
          <p class="status" role="status" data-testid="status">
            {t("connecting")}
          </p>
        </Match>
        <Match when={phase() === "live" || phase() === "moved" || phase() === "ending" || phase() === "ended"}>
          <Show when={phase() === "live"}>
            {/* A polite live region: a screen reader says when Parley asks, listens, or the connection is being restored. */}
            <p
              class="status live"
              role="status"
              data-testid="status"
              data-ai-speech={aiSpeech()}
              data-state={restoring() ? "restoring" : aiSpeaking() ? "asking" : "listening"}
            >
              <span class={restoring() ? "dot restoring" : "dot"} />{" "}
              {restoring() ? t("restoring") : aiSpeaking() ? t("asking") : t("listening")}
            </p>
          </Show>
          <Show when={phase() === "moved"}>
            <section class="moved" data-testid="moved">
              <p class="notice" role="status" data-testid="taken-over">
                {t("takenOver")}
              </p>
              <button class="secondary" type="button" data-testid="continue-here" onClick={continueHere}>
                {t("continueHere")}
              </button>
              <Show when={access()}>{(a) => <DataCode code={a().dataCode} />}</Show>
            </section>
          </Show>
          <Show when={phase() === "ending"}>
            <p class="status" role="status" data-testid="ending">
              {t("ending")}
            </p>
          </Show>
          <Show when={shownNotice()}>
            <p class="notice" role="status" data-testid="notice">
              {shownNotice()}
            </p>
          </Show>
          <Show when={phase() === "ended"}>
            <section class="ended" data-testid="ended">
              {/* The "I'm done" button is gone: focus moves here, so a screen reader reads the end. */}
              <h2 tabIndex={-1} ref={(h) => queueMicrotask(() => h.focus())} data-testid="thanks">
                {t("thanks")}
              </h2>
              <Show when={ending()}>
                {(e) => (
                  <>
                    <Show when={e().reason === EndReason.ENDED_BY_ADMIN}>
                      <p class="notice" role="status" data-testid="ended-by-admin">
                        {t("endedByAdmin")}
                      </p>
                    </Show>
                    <Show when={e().finalScore} fallback={<p data-testid="no-final-score">{t("noFinalScore")}</p>}>
                      {(f) => (
                        <p data-testid="final-score">
                          {t("finalScore")} <strong>{f().score}</strong> / 100
                        </p>
                      )}
                    </Show>
                    <p class="summary">{e().summary}</p>
                  </>
                )}
              </Show>
              <Show
                when={reward()}
                fallback={
                  <Show
                    when={rewardUnknown()}
                    fallback={
                      <p class="reward" data-testid="reward-pending">
                        {t("rewardLater")}
                      </p>
                    }
                  >
                    <p class="reward" data-testid="reward-unknown">
                      {t("reward.notYet")}
                    </p>
                    <button
                      class="secondary"
                      type="button"
                      data-testid="reward-check"
                      onClick={() => void rewardFromRecords()}
                    >
                      {t("reward.checkAgain")}
                    </button>
                  </Show>
                }
              >
                {(r) => <RewardShown reward={r()} access={access()} />}
              </Show>
              <Show when={access()}>{(a) => <DataCode code={a().dataCode} />}</Show>
              <button class="secondary" type="button" data-testid="start-over" onClick={startOver}>
                {t("startOver")}
              </button>
            </section>
          </Show>
          <Show when={shownScore()}>{(s) => <ScoreGauge score={s()} />}</Show>
          {/* A polite live region, there from the start of the conversation: each question Parley asks is read out. */}
          <div class="question-live" aria-live="polite" data-testid="question-live">
            <Show when={question() && phase() === "live"}>
              <p class="question" data-testid="question" data-turn={question()?.turn}>
                {question()?.text}
              </p>
            </Show>
          </div>
          {/* Not a live region: a screen reader reading the customer's words aloud while the
              microphone is open would be heard, and transcribed, again. */}
          <section class="transcript" data-testid="transcript">
            <For each={segments()}>
              {(s) => (
                <span class={s.isFinal ? "final" : "partial"} data-final={s.isFinal ? "1" : "0"} data-segment={s.id}>
                  {s.text}{" "}
                </span>
              )}
            </For>
          </section>
          <Show when={phase() === "live" && !rejoining()}>
            <button class="secondary" type="button" data-testid="finish" onClick={finish}>
              {t("done")}
            </button>
          </Show>
        </Match>
      </Switch>
    </main>
  );
}

/** The decided reward: what it is, and "Get paid" while there is something to claim (or where the claim stands). */
function RewardShown(props: { reward: ShownReward; access: CustomerAccess | undefined }) {
  const r = () => props.reward;
  return (
    <Switch>
      <Match when={r().status === RewardStatus.GRANTED}>
        <Show when={r().settled !== "reversed"}>
          <p class="reward" data-testid="reward" data-amount-minor={r().amountMinor}>
            {t("earned", { amount: formatReward(r().amountMinor, r().currency) })}
          </p>
        </Show>
        <Show when={props.access}>
          {(a) => (
            <Show
              when={r().settled}
              fallback={
                // No payouts on this deployment: a claim would be refused for good, so none is offered.
                <Show
                  when={!r().unpayable}
                  fallback={
                    <p class="reward-kept" data-testid="reward-unpayable">
                      {t("reward.noPayouts")}
                    </p>
                  }
                >
                  <ClaimReward access={a()} />
                </Show>
              }
            >
              {(settled) => <RewardState state={settled()} />}
            </Show>
          )}
        </Show>
      </Match>
      <Match when={r().status === RewardStatus.WITHHELD}>
        <p class="reward" data-testid="reward" data-amount-minor="0">
          {t("reward.withheld")}
        </p>
      </Match>
      <Match when={true}>
        <p class="reward" data-testid="reward" data-amount-minor="0">
          {r().reason === "budget_exhausted" ? t("reward.budgetUsed") : t("reward.none")}
        </p>
      </Match>
    </Switch>
  );
}

// One customer's conversation from start to end: started from the consent
// screen (microphone, session, socket, audio), taken up again after a reload
// or from another tab, ended by the customer or the AI, and its end screen
// with the reward. Keeping it connected is reconnection.ts, what the socket
// brings is liveEvents.ts, its end and reward conversationEnd.ts.
import { createEffect, onCleanup, onMount } from "solid-js";
import { type Call, hangUp, stopVoice } from "./call.ts";
import { Connection } from "./connection.ts";
import { createConversationEnd } from "./conversationEnd.ts";
import type { ConversationState } from "./conversationState.ts";
import { createFailures } from "./failures.ts";
import { consentVersion } from "./i18n.ts";
import {
  endedConversation,
  type KeptConversation,
  keepConversation,
  keepShown,
  keptConversation,
  shownSoFar,
} from "./keptConversation.ts";
import { liveEventsOf } from "./liveEvents.ts";
import { say } from "./message.ts";
import { rawAudio, storeCode } from "./pageLink.ts";
import { createReconnection } from "./reconnection.ts";
import { requestSession } from "./sessionRequest.ts";
import { lookUpStore } from "./store.ts";
import { openMicrophone } from "./voice.ts";
import { ScreenWakeLock } from "./wakeLock.ts";

/** What the screens can do to the conversation. */
export type Conversation = ReturnType<typeof createConversation>;

/**
 * Runs the page's conversation on `state`; called from the page's component (its effects, mount
 * and cleanup belong to it).
 */
export function createConversation(state: ConversationState) {
  const {
    phase,
    setPhase,
    setProblem,
    store,
    setStore,
    setNotice,
    setMicMuted,
    segments,
    setSegments,
    score,
    setScore,
    question,
    setQuestion,
    setAiSpeech,
    setEnding,
    setReward,
    setRewardUnknown,
    setAccess,
  } = state;
  const call: Call = {};
  const failures = createFailures(state, call);
  const { finish, showEnded, startOver, rewardFromRecords, stopAskingForReward } = createConversationEnd(state, call);
  const { fail, unavailable, failWith } = failures;
  const reconnection = createReconnection(state, call, failures, {
    finish,
    listen: (c) => listen(c),
    rewardFromRecords,
  });
  const { watched, microphoneEnded, openVoice, rejoin } = reconnection;
  const listen = liveEventsOf(state, call, failures, reconnection, { finish, takenOver });

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

  async function start() {
    // Stored with the session: which consent text the customer accepted (its retention figures with it).
    const consent = { given: true as const, version: consentVersion(store()?.retention) };
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
    stopAskingForReward(); // an earlier conversation's reward is no longer asked for
    try {
      // Consent is given on the screen before this: the microphone opens only now.
      call.microphone = watched(await openMicrophone(rawAudio));
      setMicMuted(call.microphone.muted);
      const { token, sessionId, dataCode, wsUrl, expiresAt } = await requestSession(consent);
      setAccess(dataCode ? { sessionId, dataCode } : undefined);
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      call.session = { url: wsUrl ?? `${scheme}://${location.host}/ws`, token };
      call.connection = await Connection.join(call.session.url, call.session.token, listen);
      // Joined: a reload from here on takes this conversation up again (the token's life, 15 minutes without a hint).
      keepConversation({
        store: storeCode,
        url: call.session.url,
        token,
        sessionId,
        ...(dataCode ? { dataCode } : {}),
        expiresAtMs: Date.parse(expiresAt ?? "") || Date.now() + 15 * 60_000,
      });
      await openVoice(call.connection, call.microphone);
      setPhase("live");
      // A microphone that ended while the call was being set up was not reopened then (not live yet).
      if (call.microphone?.readyState === "ended") void microphoneEnded();
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
    call.session = { url: kept.url, token: kept.token };
    try {
      call.microphone = watched(await openMicrophone(rawAudio));
      setMicMuted(call.microphone.muted);
    } catch (error) {
      if (phase() === "starting") failWith(error);
      return;
    }
    if (phase() !== "starting") return;
    setPhase("live");
    // A microphone that ended meanwhile is opened again; the rejoin takes the new one up.
    if (call.microphone.readyState === "ended") void microphoneEnded();
    await rejoin("resuming");
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
    stopVoice(call);
    call.microphone?.stop();
    call.microphone = undefined;
  }

  /** Takes the conversation back from the other tab, as a reload of this one would. */
  function continueHere() {
    const kept = keptConversation(storeCode);
    if (!kept) return fail(say("refused.expired")); // its token ran out meanwhile
    void resume(kept);
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
    stopAskingForReward();
    failures.stopRetryCountdown();
    wakeLock.release();
    hangUp(call);
  });

  return {
    start,
    continueHere,
    finish,
    startOver,
    /** The customer asks again for a reward the records did not have in time. */
    checkRewardAgain: rewardFromRecords,
    /** The page's <audio> element, where the AI's voice plays. */
    playAiVoiceOn: (audio: HTMLAudioElement) => {
      call.aiAudio = audio;
    },
  };
}

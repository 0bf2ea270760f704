// The end of a conversation: "I'm done" (or the AI's end) closes it on the
// node, the end screen is kept for a reload, the reward is waited for on the
// socket a moment and else asked of the records; "Start over" goes back to
// the consent screen.
import { create } from "@bufbuild/protobuf";
import { ConversationEndedSchema, EndReason } from "@parley/proto/live";
import { type Call, hangUp, stopVoice } from "./call.ts";
import type { ConversationState } from "./conversationState.ts";
import type { MessageKey } from "./i18n.ts";
import { type EndedConversation, forgetConversation, forgetEnded, keepEnded } from "./keptConversation.ts";
import { storeCode } from "./pageLink.ts";
import { pollRecordedReward } from "./reward.ts";

/** After the conversation ends, how long the socket stays open for the reward decision (then records are asked). */
const REWARD_WAIT_MS = 10_000;
/**
 * How long "I'm done" waits for the node's answer: it comes once the conversation is closed (the
 * speech worker's last words, up to 30 s, then the final score), well past an ordinary request's timeout.
 */
const END_TIMEOUT_MS = 60_000;
/** Notices that stay true once the conversation has ended (they say why it ended); the others go with the conversation. */
const LASTING_NOTICES: readonly MessageKey[] = ["micLost", "serviceStopped"];

export type ConversationEnd = ReturnType<typeof createConversationEnd>;

export function createConversationEnd(state: ConversationState, call: Call) {
  const {
    phase,
    setPhase,
    setProblem,
    notice,
    setNotice,
    segments,
    setSegments,
    score,
    setScore,
    ending,
    setEnding,
    reward,
    setReward,
    setRewardUnknown,
    access,
    setAccess,
  } = state;
  /** Counts the asks of the records for a reward: one whose number is not the latest stops. */
  let rewardCheck = 0;

  /** A new conversation starts, or the page goes: the reward asked of the records so far is no longer asked for. */
  function stopAskingForReward() {
    rewardCheck++;
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
      await call.connection?.request({ case: "endSession", value: {} }, "sessionEnded", END_TIMEOUT_MS);
    } catch {
      /* what we have is shown (ended already, or the connection went: the reward is asked of the records) */
    }
    stopVoice(call);
    call.microphone?.stop();
    call.microphone = undefined;
    setPhase("ended");
    keepEndScreen();
    // The reward is decided from the stored conversation just after it ends: keep listening for it a moment.
    if (!reward() && call.connection?.open)
      await new Promise<void>((resolve) => {
        call.rewardWaitOver = resolve;
        setTimeout(resolve, REWARD_WAIT_MS);
      });
    call.rewardWaitOver = undefined;
    hangUp(call);
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
    stopAskingForReward(); // the ended conversation's reward is no longer asked for
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

  return { finish, showEnded, startOver, rewardFromRecords, stopAskingForReward };
}

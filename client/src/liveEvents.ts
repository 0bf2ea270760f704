// What one connection to the session's node brings while it lasts: the live
// events (transcript, score, the AI's questions and voice, the end, the
// reward) onto the screen, and its end: join again, fail, or let the reward
// wait go, by phase and close code.
import { AiSpeechState, StreamState } from "@parley/proto/live";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import type { ConversationState } from "./conversationState.ts";
import type { Failures } from "./failures.ts";
import { say } from "./message.ts";
import type { Reconnection } from "./reconnection.ts";
import { fromUpdate } from "./reward.ts";
import { applySegment } from "./transcript.ts";

/** The node closes a customer's socket with this code when another connection joined its session (another tab). */
const TAKEN_OVER = 4002;

/** What the rest of the conversation does when a connection says so (conversation.ts). */
export interface LiveEventHooks {
  /** The conversation ends (the AI ended it, or the speech service stopped for good). */
  finish(): Promise<void>;
  /** Another tab or window joined the conversation. */
  takenOver(): void;
}

/** Returns the function that makes a newly opened connection report to this conversation. */
export function liveEventsOf(
  state: ConversationState,
  call: Call,
  failures: Failures,
  reconnection: Pick<Reconnection, "rejoin" | "reconnectVoice">,
  hooks: LiveEventHooks,
) {
  const { phase, setNotice, clearNotice, setSegments, setScore, setQuestion, setAiSpeech, setEnding, setReward } =
    state;
  const { fail } = failures;
  const { rejoin, reconnectVoice } = reconnection;
  const { finish, takenOver } = hooks;

  /** The live events and the end of one connection to the session's node. */
  return function listen(c: Connection) {
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
          call.rewardWaitOver?.();
          break;
        case "status": {
          const streamState = kind.value.state;
          // The speech service's state matters while the customer talks: not on the end screen.
          if (streamState === StreamState.RECONNECTING && (phase() === "live" || phase() === "starting"))
            setNotice(say("reconnecting"));
          else if (streamState === StreamState.LIVE) clearNotice("reconnecting");
          // For good (no speech worker, or no media worker, will take it): the conversation ends
          // with what was said, its score and its data code.
          else if (streamState === StreamState.FAILED && phase() === "live") {
            setNotice(say("serviceStopped"));
            void finish();
          } else if (streamState === StreamState.FAILED && phase() === "starting") fail(say("serviceUnavailable"));
          break;
        }
      }
    };
    // Open but carrying nothing (the network switched under it): no close will come for minutes.
    c.onSilent = () => {
      if (c !== call.connection) return;
      c.abandon();
      if (phase() === "ending" || phase() === "ended") call.rewardWaitOver?.();
      else if (phase() === "starting") fail(say("connectionLost"));
      else if (phase() === "live") void rejoin();
    };
    c.onClose = (code) => {
      // Only the current connection speaks for the session: one still joining fails its join instead.
      if (c !== call.connection) return;
      // Ended: no reward will come on this socket any more (the records are asked instead).
      if (phase() === "ending" || phase() === "ended") call.rewardWaitOver?.();
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
  };
}

// How the conversation fails: what the customer is told (in their language;
// the technical detail goes to the console, for support) and which screen
// follows: the consent screen with a retry (held while a busy node asked to
// wait), or a page that can start nothing (no such store, its language not served).
import { ErrorCode } from "@parley/proto/ws";
import { type Call, hangUp } from "./call.ts";
import { ConnectionLost, ServerError } from "./connection.ts";
import type { ConversationState } from "./conversationState.ts";
import type { MessageKey } from "./i18n.ts";
import { forgetConversation } from "./keptConversation.ts";
import { type Message, say } from "./message.ts";
import { refusalMessage } from "./refusals.ts";
import {
  BusyError,
  LanguageUnsupportedError,
  MAX_RETRY_WAIT_MS,
  StartRefusedError,
  UnknownStoreError,
} from "./sessionRequest.ts";
import { MicrophoneDeniedError, NoMicrophoneError } from "./voice.ts";

export type Failures = ReturnType<typeof createFailures>;

export function createFailures(state: ConversationState, call: Call) {
  const { setPhase, setProblem, setNoStore, retryWait, setRetryWait } = state;
  let retryTicker: ReturnType<typeof setInterval> | undefined;

  const fail = (message: Message) => {
    forgetConversation();
    setProblem(message);
    setPhase("error");
    hangUp(call);
  };
  /** Nothing can be started from this page (no such store, its language not taken): said, with no start button. */
  const unavailable = (message: Message, unknownStore = false) => {
    forgetConversation();
    setNoStore(unknownStore);
    setProblem(message);
    setPhase("unavailable");
    hangUp(call);
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
  /** The page goes away: the retry button's countdown stops. */
  const stopRetryCountdown = () => clearInterval(retryTicker);

  return { fail, unavailable, failWith, stopRetryCountdown };
}

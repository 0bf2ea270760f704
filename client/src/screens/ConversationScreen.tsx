// The conversation, live and after: the status line (listening, Parley
// asking, the connection being restored), notices, the score, the question
// Parley asks, the transcript and "I'm done"; the end screen once it ended,
// or "taken over" while another tab has it.
import { For, Show } from "solid-js";
import type { Conversation } from "../conversation.ts";
import type { ConversationState } from "../conversationState.ts";
import { t } from "../locale.ts";
import { ScoreGauge } from "../ScoreGauge.tsx";
import { EndScreen } from "./EndScreen.tsx";
import { TakenOver } from "./TakenOver.tsx";

export function ConversationScreen(props: { state: ConversationState; conversation: Conversation }) {
  const { phase, aiSpeech, aiSpeaking, restoring, rejoining, shownNotice, shownScore, question, segments, access } =
    props.state;
  return (
    <>
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
        <TakenOver access={access()} conversation={props.conversation} />
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
        <EndScreen state={props.state} conversation={props.conversation} />
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
        <button class="secondary" type="button" data-testid="finish" onClick={props.conversation.finish}>
          {t("done")}
        </button>
      </Show>
    </>
  );
}

import type { FeedbackScore } from "@parley/proto/live";
import { For, Show } from "solid-js";
import { sentimentOf } from "./state.ts";
import { t, topic } from "./ui.ts";

const band = (score: number) => (score < 40 ? "low" : score < 70 ? "mid" : "high");

/** The score as a coloured number with its parts; `live` marks a score still moving. */
export function ScoreBadge(props: { score: FeedbackScore; compact?: boolean }) {
  const parts = () =>
    [
      ["specificity", props.score.specificity],
      ["actionability", props.score.actionability],
      ["relevance", props.score.relevance],
    ] as const;
  return (
    <div class={`score-badge ${band(props.score.score)}`} data-testid="score" data-score={props.score.score}>
      <span class="score-number">{props.score.score}</span>
      <Show when={!props.compact}>
        <div class="score-parts">
          <For each={parts()}>
            {([key, value]) => (
              <div class="part">
                <span>{t(`score.${key}`)}</span>
                <span class="bar">
                  <span style={{ width: `${Math.round(value * 100)}%` }} />
                </span>
              </div>
            )}
          </For>
        </div>
      </Show>
    </div>
  );
}

export function Chips(props: { score: FeedbackScore | undefined }) {
  return (
    <Show when={props.score}>
      {(s) => (
        <div class="chips">
          <span class={`chip sentiment ${sentimentOf(s().sentiment)}`} data-testid="sentiment">
            {t(`sentiment.${sentimentOf(s().sentiment)}`)}
          </span>
          <For each={s().topics}>{(name) => <span class="chip">{topic(name)}</span>}</For>
        </div>
      )}
    </Show>
  );
}

import type { FeedbackScore } from "@parley/proto/live";
import { createUniqueId, For, Show } from "solid-js";
import { t } from "./locale.ts";

const PARTS = ["specificity", "actionability", "relevance"] as const;

/** The live quality score: a ring with the number, its parts as bars, and the hint. */
export function ScoreGauge(props: { score: FeedbackScore }) {
  const circumference = 2 * Math.PI * 42;
  // Each bar is named by its label (a screen reader reads "Details, meter, 0.6"), by id: unique per gauge.
  const id = createUniqueId();
  return (
    <section class="score" data-testid="score" data-score={props.score.score}>
      <svg viewBox="0 0 100 100" class="ring" role="img" aria-label={t("quality", { score: props.score.score })}>
        <circle cx="50" cy="50" r="42" class="track" />
        <circle
          cx="50"
          cy="50"
          r="42"
          class="value"
          stroke-dasharray={`${(props.score.score / 100) * circumference} ${circumference}`}
        />
        <text x="50" y="57" text-anchor="middle">
          {props.score.score}
        </text>
      </svg>
      <div class="parts">
        <For each={PARTS}>
          {(part) => (
            <div class="part">
              <span id={`${id}-${part}`}>{t(`part.${part}`)}</span>
              <meter min="0" max="1" value={props.score[part]} aria-labelledby={`${id}-${part}`} />
            </div>
          )}
        </For>
        <div class="part">
          <span id={`${id}-mood`}>{t("part.mood")}</span>
          <meter
            min="-1"
            max="1"
            low={-0.2}
            high={0.2}
            optimum={1}
            value={props.score.sentiment}
            aria-labelledby={`${id}-mood`}
          />
        </div>
      </div>
      <Show when={props.score.hint && !props.score.isFinal}>
        <p class="score-hint" data-testid="hint">
          {t("tip", { hint: props.score.hint })}
        </p>
      </Show>
    </section>
  );
}

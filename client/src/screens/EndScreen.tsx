// The end of the conversation: thanks, why it ended if not by the customer,
// the final score and summary, the reward (or that it is still being
// decided, with a button to ask again), the data code, and "Start over".
import { EndReason } from "@parley/proto/live";
import { Show } from "solid-js";
import type { Conversation } from "../conversation.ts";
import type { ConversationState } from "../conversationState.ts";
import { DataCode } from "../DataCode.tsx";
import { t } from "../locale.ts";
import { RewardShown } from "../RewardShown.tsx";

export function EndScreen(props: { state: ConversationState; conversation: Conversation }) {
  const { ending, reward, rewardUnknown, access } = props.state;
  return (
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
              onClick={() => void props.conversation.checkRewardAgain()}
            >
              {t("reward.checkAgain")}
            </button>
          </Show>
        }
      >
        {(r) => <RewardShown reward={r()} access={access()} />}
      </Show>
      <Show when={access()}>{(a) => <DataCode code={a().dataCode} />}</Show>
      <button class="secondary" type="button" data-testid="start-over" onClick={props.conversation.startOver}>
        {t("startOver")}
      </button>
    </section>
  );
}

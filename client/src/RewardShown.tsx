import { RewardStatus } from "@parley/proto/live";
import { Match, Show, Switch } from "solid-js";
import { ClaimReward, RewardState } from "./ClaimReward.tsx";
import type { CustomerAccess } from "./claim.ts";
import { formatReward, t } from "./locale.ts";
import type { ShownReward } from "./reward.ts";

/** The decided reward: what it is, and "Get paid" while there is something to claim (or where the claim stands). */
export function RewardShown(props: { reward: ShownReward; access: CustomerAccess | undefined }) {
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
              {(settled) => <RewardState state={settled()} access={a()} />}
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

// The page Stripe's onboarding sends the customer back to (/?claimed=<session>):
// where their reward stands, read with the data code this tab kept; a reward
// still waiting on the account (onboarding, or new bank details after a failed
// payout) is claimed again at once.
import { createResource, Show } from "solid-js";
import { ClaimReward, RewardState } from "./ClaimReward.tsx";
import { rememberedClaim, rewardState } from "./claim.ts";
import { DataCode } from "./DataCode.tsx";
import { switchLanguage, t } from "./locale.ts";

/** The states a return from Stripe may have moved on: claimed again at once to see. */
const CLAIM_AGAIN = ["claimable", "onboarding", "payout_failed"];

export function ClaimReturn(props: { sessionId: string }) {
  const access = rememberedClaim(props.sessionId);
  const [state] = createResource(async () => (access ? await rewardState(access) : undefined));
  return (
    <main class="app">
      <header>
        <h1>{t("claim.title")}</h1>
        <button type="button" class="language" data-testid="language" onClick={switchLanguage}>
          {t("language")}
        </button>
      </header>
      <section class="ended" data-testid="claim-return">
        <Show
          when={access}
          fallback={
            <p class="reward" data-testid="claim-result" data-state="unknown">
              {t("claim.elsewhere")}
            </p>
          }
        >
          {(a) => (
            <>
              <Show when={!state.loading} fallback={<p class="hint">{t("connecting")}</p>}>
                <Show
                  when={CLAIM_AGAIN.includes(state() ?? "")}
                  fallback={<RewardState state={state()} access={a()} />}
                >
                  <ClaimReward access={a()} checkNow payoutFailed={state() === "payout_failed"} />
                </Show>
              </Show>
              <DataCode code={a().dataCode} />
            </>
          )}
        </Show>
      </section>
    </main>
  );
}

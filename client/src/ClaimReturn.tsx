// The page Stripe's onboarding sends the customer back to (/?claimed=<session>):
// where their reward stands, read with the data code this tab kept; a reward
// still waiting on the account is claimed again at once.
import { createResource, Match, Show, Switch } from "solid-js";
import { ClaimReward, MoneyMoved } from "./ClaimReward.tsx";
import { rememberedClaim, rewardState } from "./claim.ts";
import { DataCode } from "./DataCode.tsx";
import { switchLanguage, t } from "./locale.ts";

const ON_ITS_WAY = ["transfer_pending", "transferred", "payout_pending"];

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
                <Switch
                  fallback={
                    <p class="reward" data-testid="claim-result" data-state="none">
                      {t("claim.nothing")}
                    </p>
                  }
                >
                  <Match when={state() === undefined}>
                    <p class="problem" role="alert" data-testid="claim-result" data-state="unreadable">
                      {t("claim.unreadable")}
                    </p>
                  </Match>
                  <Match when={state() === "claimable" || state() === "onboarding"}>
                    <ClaimReward access={a()} checkNow />
                  </Match>
                  <Match when={ON_ITS_WAY.includes(state() ?? "") || state() === "paid"}>
                    <MoneyMoved paid={state() === "paid"} />
                  </Match>
                  <Match when={state() === "payout_failed"}>
                    <p class="problem" role="alert" data-testid="claim-result" data-state="payout_failed">
                      {t("claim.payoutFailed")}
                    </p>
                  </Match>
                </Switch>
              </Show>
              <DataCode code={a().dataCode} />
            </>
          )}
        </Show>
      </section>
    </main>
  );
}

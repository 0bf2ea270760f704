// "Get paid" for a granted reward, on the end screen and on the return from
// Stripe: an account not ready yet goes to Stripe's onboarding; one that is
// ready is paid now; what happened is said, in the customer's language. A
// reward with nothing (left) to claim shows where it stands instead. A reward
// whose payout the customer's bank did not take is claimed the same way: Stripe's
// form takes new bank details (or, given already, the payout goes now).
import { createSignal, createUniqueId, Match, onCleanup, onMount, Show, Switch } from "solid-js";
import { type CustomerAccess, claimReward, rememberClaim } from "./claim.ts";
import { t } from "./locale.ts";

type ClaimState = "idle" | "busy" | "failed" | "refused" | "unfinished" | "paying" | "paid" | "settled";

/** The states in which a reward's money is on its way to the customer's account (before "paid"). */
const ON_ITS_WAY = ["transfer_pending", "transferred", "payout_pending"];

/**
 * `checkNow`: claim at once without leaving the page (the customer is back from onboarding:
 * paid if it was finished, else told so, with the button to go on). `payoutFailed`: the last payout
 * did not reach the customer's bank: they are asked for their bank details until it goes.
 * `onMoneyMoved`: the claim moved the money (or found it paid), for a page that also says where it stands.
 */
export function ClaimReward(props: {
  access: CustomerAccess;
  checkNow?: boolean;
  payoutFailed?: boolean;
  onMoneyMoved?: (paid: boolean) => void;
}) {
  const [state, setState] = createSignal<ClaimState>(props.checkNow ? "busy" : "idle");
  const [settledState, setSettledState] = createSignal<string | undefined>();
  const failureId = createUniqueId();
  const claim = async (goToOnboarding: boolean) => {
    setState("busy");
    const outcome = await claimReward(props.access);
    if (outcome.kind === "settled") setSettledState(outcome.state);
    if (outcome.kind === "paying" || outcome.kind === "paid") props.onMoneyMoved?.(outcome.kind === "paid");
    if (outcome.kind !== "onboarding") return setState(outcome.kind);
    if (!goToOnboarding) return setState("unfinished");
    rememberClaim(props.access); // for the return: the code is not in the address Stripe sends back to
    location.href = outcome.url;
  };
  onMount(() => {
    if (props.checkNow) void claim(false);
  });
  // Back from Stripe with the browser's back button, the page may come from its cache, still busy.
  const onPageShow = (e: PageTransitionEvent) => {
    if (e.persisted && state() === "busy") setState("idle");
  };
  window.addEventListener("pageshow", onPageShow);
  onCleanup(() => window.removeEventListener("pageshow", onPageShow));
  return (
    <Switch>
      <Match when={state() === "paying" || state() === "paid"}>
        <MoneyMoved paid={state() === "paid"} />
      </Match>
      <Match when={state() === "settled"}>
        <RewardState state={settledState()} access={props.access} />
      </Match>
      <Match when={true}>
        {/* Not while the claim is under way: back from Stripe with new details, it is news no longer. */}
        <Show when={props.payoutFailed && state() !== "busy"}>
          <p id={failureId} class="problem" role="status" data-testid="claim-result" data-state="payout_failed">
            {t("claim.payoutFailed")}
          </p>
        </Show>
        <Show when={state() === "unfinished" && !props.payoutFailed}>
          <p class="notice" role="status" data-testid="claim-result" data-state="unfinished">
            {t("reward.unfinished")}
          </p>
        </Show>
        <button
          class="primary"
          type="button"
          data-testid="claim"
          disabled={state() === "busy"}
          aria-describedby={props.payoutFailed && state() !== "busy" ? failureId : undefined}
          onClick={() => claim(true)}
        >
          {props.payoutFailed ? t("reward.updateBank") : t("reward.claim")}
        </button>
        <Show when={state() === "failed"}>
          <p class="problem" role="alert">
            {t("reward.claimFailed")}
          </p>
        </Show>
        <Show when={state() === "refused"}>
          <p class="problem" role="alert">
            {t("reward.claimRefused")}
          </p>
        </Show>
      </Match>
    </Switch>
  );
}

/** The reward's money is on its way to the customer's account, or paid there. */
export function MoneyMoved(props: { paid: boolean }) {
  return (
    <p class="reward" role="status" data-testid="claim-result" data-state={props.paid ? "paid" : "paying"}>
      {props.paid ? t("reward.paid") : t("reward.onItsWay")}
    </p>
  );
}

/**
 * Where a reward that is not (or no longer) to be claimed stands; undefined: it could not be read.
 * One whose payout failed is claimed again, for new bank details.
 */
export function RewardState(props: { state: string | undefined; access: CustomerAccess }) {
  return (
    <Switch
      fallback={
        <p class="reward" data-testid="claim-result" data-state="none">
          {t("claim.nothing")}
        </p>
      }
    >
      <Match when={props.state === undefined}>
        <p class="problem" role="alert" data-testid="claim-result" data-state="unreadable">
          {t("claim.unreadable")}
        </p>
      </Match>
      <Match when={ON_ITS_WAY.includes(props.state ?? "") || props.state === "paid"}>
        <MoneyMoved paid={props.state === "paid"} />
      </Match>
      <Match when={props.state === "payout_failed"}>
        <ClaimReward access={props.access} payoutFailed />
      </Match>
    </Switch>
  );
}

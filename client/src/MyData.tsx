// "Your data" (/?data): the customer types their data code (or follows the end
// screen's link, which carries it in the address's fragment: never sent to the
// server, and taken out of the address at once), sees what is kept of their
// conversation, downloads a copy or deletes it. A deletion asks first; one
// that would give up an unclaimed reward says so and asks again. A reward whose
// payout the customer's bank did not take asks for their bank details again.
import { createSignal, For, Match, Show, Switch } from "solid-js";
import { ClaimReward } from "./ClaimReward.tsx";
import { type CustomerAccess, recordedState } from "./claim.ts";
import { type DataProblem, deleteData, downloadCopy, type KeptConversation, openData } from "./customerData.ts";
import { formatDays, formatHours } from "./i18n.ts";
import { formatReward, language, switchLanguage, t } from "./locale.ts";

/** The code the end screen's link carried, taken out of the address (history, bookmarks). */
function codeFromAddress(): string {
  const code = decodeURIComponent(location.hash.slice(1));
  if (code) history.replaceState(null, "", location.pathname + location.search);
  return code;
}

/** Asked before deleting: plainly, or again because an unclaimed reward would be given up. */
type Confirm = { reward?: { amountMinor: number; currency: string } };

type Step =
  | { kind: "asking" | "opening" | "deleted" }
  | { kind: "shown"; access: CustomerAccess; data: KeptConversation; confirm?: Confirm }
  | { kind: "deleting"; access: CustomerAccess; data: KeptConversation };

type Shown = Extract<Step, { kind: "shown" | "deleting" }>;

export function MyData() {
  const [code, setCode] = createSignal(codeFromAddress());
  const [step, setStep] = createSignal<Step>({ kind: "asking" });
  const [problem, setProblem] = createSignal<DataProblem>();

  const open = async (event?: Event) => {
    event?.preventDefault();
    if (!code().trim()) return;
    setProblem(undefined);
    setStep({ kind: "opening" });
    const opened = await openData(code().trim());
    if (opened.kind === "opened") setStep({ kind: "shown", access: opened.access, data: opened.data });
    else {
      setProblem(opened);
      setStep({ kind: "asking" });
    }
  };

  const remove = async ({ access, data }: Shown, confirm: Confirm) => {
    setProblem(undefined);
    setStep({ kind: "deleting", access, data });
    const outcome = await deleteData(access, confirm.reward !== undefined);
    if (outcome.kind === "deleted") return setStep({ kind: "deleted" });
    if (outcome.kind === "rewardUnclaimed")
      return setStep({ kind: "shown", access, data, confirm: { reward: outcome } });
    setProblem(outcome);
    setStep({ kind: "shown", access, data });
  };

  if (code()) void open();

  const shown = () => {
    const s = step();
    return s.kind === "shown" || s.kind === "deleting" ? s : undefined;
  };

  return (
    <main class="app">
      <header>
        <h1>{t("myData.title")}</h1>
        <button type="button" class="language" data-testid="language" onClick={switchLanguage}>
          {t("language")}
        </button>
      </header>
      <Show when={problem()}>
        {(p) => (
          <p class="problem" role="alert" data-testid="data-problem" data-kind={p().kind}>
            {problemText(p())}
          </p>
        )}
      </Show>
      <Switch>
        <Match when={step().kind === "asking" || step().kind === "opening"}>
          <form class="data-ask" onSubmit={open}>
            <label for="data-code-input">{t("myData.ask")}</label>
            <input
              id="data-code-input"
              data-testid="data-code-input"
              autocomplete="off"
              autocapitalize="characters"
              spellcheck={false}
              placeholder="XXXX-XXXX-XXXX"
              value={code()}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
            <button type="submit" class="primary" data-testid="data-open" disabled={step().kind === "opening"}>
              {step().kind === "opening" ? t("loading") : t("myData.open")}
            </button>
          </form>
        </Match>
        <Match when={step().kind === "deleted"}>
          <p class="reward" role="status" data-testid="data-deleted">
            {t("myData.deleted")}
          </p>
        </Match>
        <Match when={shown()}>
          {(s) => (
            <Kept
              step={s()}
              ask={(confirm) => setStep({ ...(s() as Shown), kind: "shown", confirm })}
              remove={(confirm) => void remove(s(), confirm)}
            />
          )}
        </Match>
      </Switch>
    </main>
  );
}

function problemText(p: DataProblem): string {
  if (p.kind === "tooMany") return t("myData.tooMany", { minutes: Math.ceil(p.retryAfterS / 60) });
  return t(`myData.${p.kind}`);
}

/** What is kept, a copy to download, and the deletion with its confirmation. */
function Kept(props: { step: Shown; ask: (confirm: Confirm | undefined) => void; remove: (confirm: Confirm) => void }) {
  const data = () => props.step.data;
  // A claim made here that moved the money: the line above says so too, not the state it was read in.
  const [moved, setMoved] = createSignal<"paid" | "transferred">();
  const confirm = () => (props.step.kind === "shown" ? props.step.confirm : undefined);
  const when = () => {
    const at = data().startedAt ?? data().endedAt;
    return at ? new Date(at).toLocaleString(document.documentElement.lang) : "";
  };
  return (
    <section class="kept" data-testid="data-kept">
      <p class="store">
        {data().store.name} · {when()}
      </p>
      <h2>{t("myData.said")}</h2>
      <Show when={data().transcript.length > 0} fallback={<p class="hint">{t("myData.nothingSaid")}</p>}>
        <ol class="kept-transcript" data-testid="data-transcript">
          <For each={data().transcript}>{(line) => <li>{line.text}</li>}</For>
        </ol>
      </Show>
      <Show when={data().finalScore}>{(f) => <p>{t("myData.score", { score: f().score })}</p>}</Show>
      <Show when={data().reward?.amountMinor ? data().reward : undefined}>
        {(r) => (
          <>
            <p data-testid="data-reward">
              {t("myData.reward", {
                amount: formatReward(r().amountMinor, r().currency),
                state: t(rewardStateKey(moved() ?? recordedState(r()))),
              })}
            </p>
            <Show when={r().payoutFailed}>
              <ClaimReward
                access={props.step.access}
                payoutFailed
                onMoneyMoved={(paid) => setMoved(paid ? "paid" : "transferred")}
              />
            </Show>
          </>
        )}
      </Show>
      <p class="hint" data-testid="data-retention">
        {t("myData.kept", {
          days: formatDays(language(), data().retention.transcriptAndScoresDays),
          hours: formatHours(language(), data().retention.voiceDataHours),
        })}
      </p>
      <Show
        when={confirm()}
        fallback={
          <div class="kept-actions">
            <button type="button" class="secondary" data-testid="data-download" onClick={() => downloadCopy(data())}>
              {t("myData.download")}
            </button>
            <button
              type="button"
              class="secondary"
              data-testid="data-delete"
              disabled={props.step.kind === "deleting"}
              onClick={() => props.ask({})}
            >
              {props.step.kind === "deleting" ? t("myData.deleting") : t("myData.delete")}
            </button>
          </div>
        }
      >
        {(c) => (
          <div class="notice" role="alert" data-testid="data-confirm" data-reward={c().reward ? "unclaimed" : "none"}>
            <p>
              {c().reward
                ? t("myData.forfeit", { amount: formatReward(c().reward!.amountMinor, c().reward!.currency) })
                : t("myData.confirm")}
            </p>
            <div class="kept-actions">
              <button type="button" class="primary" data-testid="data-delete-confirm" onClick={() => props.remove(c())}>
                {c().reward ? t("myData.deleteForfeit") : t("myData.deleteNow")}
              </button>
              <button type="button" class="secondary" data-testid="data-keep" onClick={() => props.ask(undefined)}>
                {t("myData.keep")}
              </button>
            </div>
          </div>
        )}
      </Show>
    </section>
  );
}

/** How a reward's state (claim.ts recordedState) reads to the customer. */
function rewardStateKey(state: string) {
  switch (state) {
    case "paid":
      return "myData.reward.paid" as const;
    case "claimable":
    case "onboarding":
      return "myData.reward.unclaimed" as const;
    case "transfer_pending":
    case "transferred":
    case "payout_pending":
      return "myData.reward.onItsWay" as const;
    case "payout_failed":
      return "myData.reward.payoutFailed" as const;
    default:
      return "myData.reward.other" as const;
  }
}

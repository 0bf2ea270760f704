import { ModerationStatus } from "@parley/proto/wall";
import { createSignal, For, Show } from "solid-js";
import { logProblem, problemText } from "./problems.ts";
import { Chips, ScoreBadge } from "./ScoreBadge.tsx";
import { type Card, cardStatus, endOf, rewardPhase } from "./state.ts";
import { formatDuration, formatMoney, formatTime, serverNow, t } from "./ui.ts";

/** The reward as the wall says it: its amount and how far its payment got (nothing until decided). */
export function rewardText(card: Pick<Card, "reward" | "rewardMinor" | "currency">): string {
  const amount = formatMoney(card.rewardMinor, card.currency);
  switch (rewardPhase(card.reward)) {
    case "held":
      return t("reward.held", { amount });
    case "paying":
      return t("reward.paying", { amount });
    case "paid":
      return t("reward.paid", { amount });
    case "failed":
      return t("reward.failed", { amount });
    case "withheld":
      return t("reward.withheld");
    case "none":
      return t("reward.none");
    default:
      return "";
  }
}

export interface CardActions {
  open(sessionId: string): void;
  /** Absent when the viewer may not moderate (staff, kiosk). Rejects when the node refuses it. */
  moderate?: (sessionId: string, status: ModerationStatus) => Promise<void>;
}

/** One conversation: its transcript growing as the customer speaks, the score moving, status and chips. */
export function FeedbackCard(props: { card: Card; actions: CardActions; kiosk: boolean }) {
  const card = () => props.card;
  const status = () => cardStatus(card(), serverNow());
  const lastQuestion = () => card().aiTurns.at(-1);
  /** Until its end, or until it fell silent for good. */
  const duration = () => (endOf(card(), serverNow()) || serverNow()) - card().startedAtMs;
  /** Why the last Approve or Hide was refused: the item stays as it was, and the moderator must know. */
  const [refusal, setRefusal] = createSignal<{ error: unknown }>();
  const moderate = (to: ModerationStatus) => {
    setRefusal(undefined);
    props.actions.moderate?.(card().sessionId, to).catch((error: unknown) => {
      logProblem("moderation refused", error);
      setRefusal({ error });
    });
  };
  return (
    <article
      class={`card ${status()}`}
      data-testid="card"
      data-session={card().sessionId}
      data-status={status()}
      data-store={card().storeCode}
    >
      <header>
        <span class={`pill ${status()}`}>{t(`status.${status()}`)}</span>
        <span class="store">{card().storeCode}</span>
        <span class="time">
          {formatTime(card().startedAtMs)} · {formatDuration(duration())}
        </span>
        <Show when={card().score}>{(s) => <ScoreBadge score={s()} compact={props.kiosk} />}</Show>
      </header>
      <p class="transcript" data-testid="card-transcript">
        <For each={card().segments}>
          {(s) => (
            <span class={s.isFinal ? "final" : "partial"} data-final={s.isFinal ? "1" : "0"}>
              {s.text}{" "}
            </span>
          )}
        </For>
        <Show when={status() === "live" && card().segments.length === 0}>
          <span class="partial">…</span>
        </Show>
      </p>
      <Show when={lastQuestion() && status() === "live"}>
        <p class="question">
          <span class="label">{t("ticker.ai")}:</span> {lastQuestion()!.text}
        </p>
      </Show>
      <footer>
        <Chips score={card().score} />
        <Show when={card().reward}>
          <span class={`reward ${rewardPhase(card().reward)}`} data-testid="reward" data-reward={card().reward}>
            {rewardText(card())}
          </span>
        </Show>
        <Show when={!props.kiosk}>
          <span class="actions">
            <Show when={card().endedAtMs && props.actions.moderate}>
              <span class={`mod ${ModerationStatus[card().moderation].toLowerCase()}`} data-testid="moderation">
                {card().moderation === ModerationStatus.APPROVED
                  ? t("mod.approved")
                  : card().moderation === ModerationStatus.HIDDEN
                    ? t("mod.hidden")
                    : t("mod.pending")}
                <Show when={card().moderationAutomatic}> ({t("mod.auto")})</Show>
              </span>
              <button type="button" class="small" onClick={() => moderate(ModerationStatus.APPROVED)}>
                {t("mod.approve")}
              </button>
              <button type="button" class="small" onClick={() => moderate(ModerationStatus.HIDDEN)}>
                {t("mod.hide")}
              </button>
            </Show>
            <button type="button" class="small" data-testid="open" onClick={() => props.actions.open(card().sessionId)}>
              {t("card.open")}
            </button>
          </span>
        </Show>
      </footer>
      <Show when={refusal()}>
        {(r) => (
          <p class="problem" role="alert" data-testid="moderation-refused">
            {t("mod.refused", { reason: problemText(r().error) })}
          </p>
        )}
      </Show>
    </article>
  );
}

/** Conversations older than those shown (the filter's matches, or with none any): the node has more, a page at a time. */
export interface OlderPages {
  /** The next page is on its way. */
  loading: boolean;
  /** The last page asked for did not come. */
  failed: boolean;
  show(): void;
}

export function Ticker(props: {
  cards: Card[];
  actions: CardActions;
  kiosk: boolean;
  /** The history of the filter is on its way. */
  searching?: boolean;
  /** The node could not give the history of the filter. */
  searchFailed?: boolean;
  /** Absent when the node has no older conversations of the history shown (or only live ones are shown). */
  older?: OlderPages | undefined;
}) {
  return (
    <section class="ticker" data-testid="ticker" data-searching={props.searching ? "1" : "0"}>
      <Show when={props.searchFailed}>
        <p class="problem" role="alert" data-testid="ticker-problem">
          {t("ticker.searchFailed")}
        </p>
      </Show>
      <Show
        when={props.cards.length > 0}
        fallback={<p class="empty">{props.searching ? t("ticker.searching") : t("ticker.empty")}</p>}
      >
        <For each={props.cards}>
          {(card) => <FeedbackCard card={card} actions={props.actions} kiosk={props.kiosk} />}
        </For>
      </Show>
      <Show when={props.older}>
        {(older) => (
          <div class="older">
            <Show when={older().failed}>
              <p class="problem" role="alert" data-testid="older-problem">
                {t("ticker.olderFailed")}
              </p>
            </Show>
            <button type="button" data-testid="show-older" disabled={older().loading} onClick={() => older().show()}>
              {older().loading ? t("ticker.loadingOlder") : t("ticker.older")}
            </button>
          </div>
        )}
      </Show>
    </section>
  );
}

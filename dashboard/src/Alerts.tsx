import { type Alert, AlertKind } from "@parley/proto/wall";
import { For, Show } from "solid-js";
import { formatTime, rule, t, topic } from "./ui.ts";

export function alertText(a: Alert): string {
  const store = a.storeCode || "—";
  switch (a.kind) {
    case AlertKind.LOW_SCORE:
      return t("alert.LOW_SCORE", { score: a.score, store });
    case AlertKind.NEGATIVE_SENTIMENT:
      return t("alert.NEGATIVE_SENTIMENT", { store });
    case AlertKind.TOPIC_SPIKE:
      return t("alert.TOPIC_SPIKE", { topic: topic(a.topic), n: a.count });
    case AlertKind.FRAUD_FLAGGED:
      return t("alert.FRAUD_FLAGGED", {
        store,
        detail: a.detail
          .split(",")
          .map((r) => rule(r.trim()))
          .join(", "),
      });
    default:
      return "";
  }
}

export function Alerts(props: { alerts: Alert[]; dismiss?: (id: string) => void; open?: (sessionId: string) => void }) {
  return (
    <Show when={props.alerts.length > 0}>
      <section class="alerts" data-testid="alerts" aria-live="assertive">
        <For each={props.alerts.slice(0, 5)}>
          {(a) => (
            <div class={`alert ${AlertKind[a.kind].toLowerCase()}`} data-testid="alert" data-kind={AlertKind[a.kind]}>
              <span class="when">{formatTime(Number(a.atMs))}</span>
              <span class="text">{alertText(a)}</span>
              <Show when={a.sessionId && props.open}>
                <button type="button" class="small" onClick={() => props.open?.(a.sessionId)}>
                  {t("card.open")}
                </button>
              </Show>
              <Show when={props.dismiss}>
                <button type="button" class="small ghost" onClick={() => props.dismiss?.(a.id)}>
                  {t("alerts.dismiss")}
                </button>
              </Show>
            </div>
          )}
        </For>
      </section>
    </Show>
  );
}

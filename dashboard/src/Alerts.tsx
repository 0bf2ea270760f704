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

/** The live region is always there (a screen reader announces only changes to a region it already knows). */
export function Alerts(props: { alerts: Alert[]; dismiss?: (id: string) => void; open?: (sessionId: string) => void }) {
  return (
    <div aria-live="assertive" data-testid="alerts-live">
      <Show when={props.alerts.length > 0}>
        <section class="alerts" data-testid="alerts">
          <For each={props.alerts.slice(0, 5)}>
            {(a) => (
              <div
                class={`alert ${AlertKind[a.kind].toLowerCase()}`}
                data-testid="alert"
                data-kind={AlertKind[a.kind]}
                data-session={a.sessionId}
              >
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
    </div>
  );
}

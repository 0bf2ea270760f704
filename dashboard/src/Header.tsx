import { Show } from "solid-js";
import type { ConnectionState } from "./connection.ts";
import { switchLanguage, t } from "./ui.ts";

export function Header(props: { title: string; connection: ConnectionState; historySource?: string; kiosk: boolean }) {
  return (
    <header class="top">
      <h1>
        <span class="brand">Parley</span> {props.title}
      </h1>
      <span class={`conn ${props.connection}`} data-testid="connection">
        <span class="dot" />
        {props.connection === "live"
          ? t("conn.live")
          : props.connection === "connecting"
            ? t("conn.connecting")
            : t("conn.reconnecting")}
      </span>
      <Show when={props.historySource && !props.kiosk}>
        <span class="source" title={props.historySource}>
          {t("conn.history", {
            source: props.historySource === "memory" ? t("conn.historyMemory") : t("conn.historyRecords"),
          })}
        </span>
      </Show>
      <Show when={!props.kiosk}>
        <button type="button" class="small ghost" onClick={switchLanguage} data-testid="language">
          {t("lang.switch")}
        </button>
      </Show>
    </header>
  );
}

import { Show } from "solid-js";
import { forgetToken } from "./auth.ts";
import type { ConnectionState } from "./connection.ts";
import { switchLanguage, t } from "./ui.ts";

/** Signs out of this tab: the sign-in form follows. */
function signOut(): void {
  forgetToken();
  location.reload();
}

export function Header(props: {
  title: string;
  connection: ConnectionState;
  historySource?: string;
  kiosk: boolean;
  /** The other dashboard, for admins (the wall ↔ the monitor). */
  nav?: { href: string; label: string } | undefined;
}) {
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
            : props.connection === "failed"
              ? t("conn.failed")
              : t("conn.reconnecting")}
      </span>
      <Show when={props.historySource && !props.kiosk}>
        <span class="source" title={props.historySource}>
          {t("conn.history", { source: t("conn.historyRecords") })}
        </span>
      </Show>
      <Show when={!props.kiosk}>
        <Show when={props.nav}>
          {(nav) => (
            <a class="nav" href={nav().href} data-testid="nav">
              {nav().label}
            </a>
          )}
        </Show>
        <button type="button" class="small ghost" onClick={switchLanguage} data-testid="language">
          {t("lang.switch")}
        </button>
        <button type="button" class="small ghost" onClick={signOut} data-testid="signout">
          {t("conn.signout")}
        </button>
      </Show>
    </header>
  );
}

import { Show } from "solid-js";
import { saveToken } from "./auth.ts";
import { t } from "./ui.ts";

/** Until the records package's login lands: paste a signed token (the node logs dev sign-in links). */
export function SignIn(props: { problem: string; done: (token: string) => void }) {
  let input!: HTMLInputElement;
  return (
    <form
      class="signin"
      data-testid="signin"
      onSubmit={(e) => {
        e.preventDefault();
        if (!input.value.trim()) return;
        saveToken(input.value);
        props.done(input.value.trim());
      }}
    >
      <h1>
        <span class="brand">Parley</span> {t("conn.signin")}
      </h1>
      <Show when={props.problem}>
        <p class="problem" role="alert">
          {t("conn.refused", { reason: props.problem })}
        </p>
      </Show>
      <p>{t("conn.signinHint")}</p>
      <label>
        {t("conn.token")}
        <input ref={input} type="password" autocomplete="off" />
      </label>
      <button type="submit">{t("conn.signin")}</button>
    </form>
  );
}

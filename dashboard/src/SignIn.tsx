import { createSignal, Show } from "solid-js";
import { logIn, type UserRole } from "./auth.ts";
import { switchLanguage, t } from "./ui.ts";

/**
 * E-mail and password, checked by the node (records' logins). `problem`: why
 * an earlier token was refused (expired, say). Wrong credentials, too many
 * attempts and a node that cannot be reached are told apart.
 */
export function SignIn(props: { problem: string; done: (token: string, role: UserRole) => void }) {
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal("");
  let email!: HTMLInputElement;
  let password!: HTMLInputElement;
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    if (busy() || !email.value.trim() || !password.value) return;
    setBusy(true);
    setError("");
    const result = await logIn(email.value, password.value);
    setBusy(false);
    if (result.ok) {
      props.done(result.token, result.role);
      return;
    }
    password.value = "";
    password.focus();
    setError(
      result.problem === "wrong"
        ? t("signin.wrong")
        : result.problem === "tooMany"
          ? t("signin.tooMany", { minutes: Math.max(1, Math.ceil(result.retryAfterS / 60)) })
          : t("signin.failed", { reason: result.detail }),
    );
  };
  return (
    <form class="signin" data-testid="signin" onSubmit={(e) => void submit(e)}>
      <h1>
        <span class="brand">Parley</span> {t("conn.signin")}
      </h1>
      <Show when={props.problem && !error()}>
        <p class="problem" role="alert">
          {t("conn.refused", { reason: props.problem })}
        </p>
      </Show>
      <Show when={error()}>
        <p class="problem" role="alert" data-testid="signin-error">
          {error()}
        </p>
      </Show>
      <p>{t("signin.hint")}</p>
      <label>
        {t("signin.email")}
        <input ref={email} type="email" name="email" autocomplete="username" required data-testid="email" />
      </label>
      <label>
        {t("signin.password")}
        <input
          ref={password}
          type="password"
          name="password"
          autocomplete="current-password"
          required
          data-testid="password"
        />
      </label>
      <button type="submit" disabled={busy()} data-testid="signin-submit">
        {busy() ? t("signin.busy") : t("conn.signin")}
      </button>
      <button type="button" class="small ghost" onClick={switchLanguage} data-testid="language">
        {t("lang.switch")}
      </button>
    </form>
  );
}

import { createSignal, Show } from "solid-js";
import { type LoginResult, logIn, type UserRole } from "./auth.ts";
import { logProblem, problemText } from "./problems.ts";
import { switchLanguage, t } from "./ui.ts";

/**
 * E-mail and password, checked by the node (records' logins). `problem`: why
 * an earlier token was refused (expired, say). Wrong credentials, too many
 * attempts and a node that cannot be reached are told apart.
 */
export function SignIn(props: { problem: Error | undefined; done: (token: string, role: UserRole) => void }) {
  const [busy, setBusy] = createSignal(false);
  /** What went wrong, in the viewer's language (a function: it follows a language switch). */
  const [error, setError] = createSignal<() => string>();
  let email!: HTMLInputElement;
  let password!: HTMLInputElement;
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    if (busy() || !email.value.trim() || !password.value) return;
    setBusy(true);
    setError(undefined);
    let result: LoginResult | undefined;
    try {
      result = await logIn(email.value, password.value);
    } catch (e) {
      logProblem("sign-in", e); // logIn answers every failure itself: a bug, but the form must stay usable
    } finally {
      setBusy(false);
    }
    if (result?.ok) {
      props.done(result.token, result.role);
      return;
    }
    password.value = "";
    password.focus();
    const failed = result;
    setError(() =>
      failed?.problem === "wrong"
        ? () => t("signin.wrong")
        : failed?.problem === "tooMany"
          ? () => t("signin.tooMany", { minutes: Math.max(1, Math.ceil(failed.retryAfterS / 60)) })
          : () => t("signin.failed", { reason: problemText(failed?.error) }),
    );
  };
  return (
    <form class="signin" data-testid="signin" onSubmit={(e) => void submit(e)}>
      <h1>
        <span class="brand">Parley</span> {t("conn.signin")}
      </h1>
      <Show when={!error() && props.problem}>
        {(why) => (
          <p class="problem" role="alert" data-testid="signin-refused">
            {t("conn.refused", { reason: problemText(why()) })}
          </p>
        )}
      </Show>
      <Show when={error()}>
        {(text) => (
          <p class="problem" role="alert" data-testid="signin-error">
            {text()()}
          </p>
        )}
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

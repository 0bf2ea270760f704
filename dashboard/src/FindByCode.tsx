// A conversation found by its customer's data code: a customer whose reward
// the app cannot settle (a failed payout, a refused claim) is told to give the
// store that code. The records API answers only for the signed-in user's own
// business (and a staff member's stores); the drill-down then shows it.
import { createSignal, Show } from "solid-js";
import { t } from "./ui.ts";

type Problem = "unknown" | "tooMany" | "failed";

export function FindByCode(props: { token: string; open: (sessionId: string) => void }) {
  const [code, setCode] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  const [problem, setProblem] = createSignal<Problem>();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!code().trim()) return;
    setBusy(true);
    setProblem(undefined);
    try {
      const res = await fetch("/api/feedback/lookup", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${props.token}` },
        body: JSON.stringify({ dataCode: code().trim() }),
      });
      if (res.ok) {
        const { sessionId } = (await res.json()) as { sessionId: string };
        setCode("");
        props.open(sessionId);
      } else
        setProblem(res.status === 404 || res.status === 400 ? "unknown" : res.status === 429 ? "tooMany" : "failed");
    } catch {
      setProblem("failed");
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="find-by-code" onSubmit={submit} data-testid="find-by-code">
      <h2>{t("find.title")}</h2>
      <label>
        {t("find.label")}
        <input
          data-testid="find-code"
          autocomplete="off"
          spellcheck={false}
          placeholder="XXXX-XXXX-XXXX"
          value={code()}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
      </label>
      <button type="submit" disabled={busy()} data-testid="find-submit">
        {t("find.submit")}
      </button>
      <Show when={problem()}>
        {(p) => (
          <p class="problem" role="alert" data-testid="find-problem" data-kind={p()}>
            {t(`find.${p()}`)}
          </p>
        )}
      </Show>
    </form>
  );
}

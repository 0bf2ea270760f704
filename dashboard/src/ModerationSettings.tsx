import type { ModerationSettings as Settings } from "@parley/proto/wall";
import { createMemo, createSignal, Show } from "solid-js";
import { logProblem, problemText } from "./problems.ts";
import { t } from "./ui.ts";

export function ModerationSettings(props: {
  settings: Settings | undefined;
  /** The business the wall shows, when its address names one (an admin's must). */
  businessId: string;
  save: (autoApproveAbove: number, phrases: string[]) => Promise<void>;
}) {
  const [saved, setSaved] = createSignal(false);
  /** Why the last save failed (said in words where shown: it follows a language switch). */
  const [problem, setProblem] = createSignal<{ error: unknown }>();
  const [editing, setEditing] = createSignal(false);
  // While someone edits, a change saved elsewhere must not overwrite what they type: the inputs
  // keep the settings they started from until their own save goes through.
  const shown = createMemo<Settings | undefined>((before) => (editing() ? before : props.settings));
  let threshold!: HTMLInputElement;
  let phrases!: HTMLInputElement;
  const submit = async (e: Event) => {
    e.preventDefault();
    setProblem(undefined);
    try {
      await props.save(
        Math.max(0, Math.min(100, Number(threshold.value) || 0)),
        phrases.value
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean),
      );
    } catch (error) {
      logProblem("moderation settings not saved", error);
      setProblem({ error });
      return;
    }
    setEditing(false);
    setSaved(true); // until the next edit: what the inputs show is what is saved
  };
  const edited = () => {
    setEditing(true);
    setSaved(false);
  };
  const publicScreen = () =>
    `${import.meta.env.BASE_URL}?public=1&kiosk=1${props.businessId ? `&business=${encodeURIComponent(props.businessId)}` : ""}`;
  return (
    <form class="moderation-settings" onSubmit={submit} data-testid="moderation-settings">
      <h2>{t("mod.settings")}</h2>
      <label>
        {t("mod.autoApprove")} <small>({t("mod.autoOff")})</small>
        <input
          ref={threshold}
          type="number"
          min="0"
          max="100"
          value={shown()?.autoApproveAbove ?? 0}
          onInput={edited}
        />
      </label>
      <label>
        {t("mod.redact")}
        <input
          ref={phrases}
          type="text"
          value={shown()?.redactedPhrases.join(", ") ?? ""}
          onInput={edited}
          data-testid="redacted-phrases"
        />
      </label>
      <Show when={problem()}>
        {(p) => (
          <p class="problem" role="alert" data-testid="moderation-problem">
            {t("mod.failed", { reason: problemText(p().error) })}
          </p>
        )}
      </Show>
      <button type="submit" class="small">
        {saved() ? t("mod.saved") : t("mod.save")}
      </button>
      <a class="small link" href={publicScreen()} target="_blank" rel="noopener">
        ↗ {t("app.public")}
      </a>
    </form>
  );
}

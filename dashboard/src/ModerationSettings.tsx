import type { ModerationSettings as Settings } from "@parley/proto/wall";
import { createSignal } from "solid-js";
import { t } from "./ui.ts";

export function ModerationSettings(props: {
  settings: Settings | undefined;
  save: (autoApproveAbove: number, phrases: string[]) => Promise<void>;
}) {
  const [saved, setSaved] = createSignal(false);
  let threshold!: HTMLInputElement;
  let phrases!: HTMLInputElement;
  const submit = async (e: Event) => {
    e.preventDefault();
    await props.save(
      Math.max(0, Math.min(100, Number(threshold.value) || 0)),
      phrases.value
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean),
    );
    setSaved(true);
    setTimeout(() => setSaved(false), 2000);
  };
  return (
    <form class="moderation-settings" onSubmit={submit} data-testid="moderation-settings">
      <h2>{t("mod.settings")}</h2>
      <label>
        {t("mod.autoApprove")} <small>({t("mod.autoOff")})</small>
        <input ref={threshold} type="number" min="0" max="100" value={props.settings?.autoApproveAbove ?? 0} />
      </label>
      <label>
        {t("mod.redact")}
        <input ref={phrases} type="text" value={props.settings?.redactedPhrases.join(", ") ?? ""} />
      </label>
      <button type="submit" class="small">
        {saved() ? t("mod.saved") : t("mod.save")}
      </button>
      <a class="small link" href={`${import.meta.env.BASE_URL}?public=1&kiosk=1`} target="_blank" rel="noopener">
        ↗ {t("app.public")}
      </a>
    </form>
  );
}

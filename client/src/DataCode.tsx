import { t } from "./locale.ts";

/** The code with which the customer sees or deletes what they said (records keep the conversation). */
export function DataCode(props: { code: string }) {
  return (
    <p class="data-code" data-testid="data-code">
      {t("dataCode.before")} <code>{props.code}</code> {t("dataCode.after")}
    </p>
  );
}

import { language, t } from "./locale.ts";

/**
 * The code with which the customer sees or deletes what they said (records keep the conversation),
 * and a link to the page that does it. The link carries the code in its fragment, which the browser
 * never sends; that page takes it out of the address at once.
 */
export function DataCode(props: { code: string }) {
  const href = () => `/?data&lang=${language()}#${encodeURIComponent(props.code)}`;
  return (
    <p class="data-code" data-testid="data-code">
      {t("dataCode.before")} <code>{props.code}</code> {t("dataCode.after")}{" "}
      <a href={href()} target="_blank" rel="noopener" data-testid="data-link">
        {t("dataCode.link")}
      </a>
    </p>
  );
}

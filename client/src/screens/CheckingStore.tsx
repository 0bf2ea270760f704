// While the link's store is looked up (before the consent screen).
import { t } from "../locale.ts";

export function CheckingStore() {
  return (
    <p class="status" role="status" data-testid="checking">
      {t("loading")}
    </p>
  );
}

// While a conversation is being set up (microphone, session, audio) or taken up again after a reload.
import { t } from "../locale.ts";

export function Connecting() {
  return (
    <p class="status" role="status" data-testid="status">
      {t("connecting")}
    </p>
  );
}

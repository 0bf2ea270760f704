// Another tab or window took the conversation over: said, with "Continue
// here" to take it back, and the data code meanwhile.

import { Show } from "solid-js";
import type { CustomerAccess } from "../claim.ts";
import type { Conversation } from "../conversation.ts";
import { DataCode } from "../DataCode.tsx";
import { t } from "../locale.ts";

export function TakenOver(props: { access: CustomerAccess | undefined; conversation: Conversation }) {
  return (
    <section class="moved" data-testid="moved">
      <p class="notice" role="status" data-testid="taken-over">
        {t("takenOver")}
      </p>
      <button class="secondary" type="button" data-testid="continue-here" onClick={props.conversation.continueHere}>
        {t("continueHere")}
      </button>
      <Show when={props.access}>{(a) => <DataCode code={a().dataCode} />}</Show>
    </section>
  );
}

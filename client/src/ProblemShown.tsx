import { Show } from "solid-js";
import { type Message, shown } from "./message.ts";

/** What went wrong, in the customer's language: shown before the consent or on its own. */
export function ProblemShown(props: { problem: Message }) {
  return (
    <Show when={props.problem}>
      {(m) => (
        <p class="problem" role="alert" data-testid="problem" data-kind={m().key}>
          {shown(m())}
        </p>
      )}
    </Show>
  );
}

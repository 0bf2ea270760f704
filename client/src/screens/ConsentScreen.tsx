// The consent screen: what is kept, why and for how long, then "Start
// talking" (the microphone opens only then). After a failure it says what
// went wrong first, with a retry (held while a busy node asked to wait) and
// what the failed conversation left: its data code, its reward.

import { Show } from "solid-js";
import type { Conversation } from "../conversation.ts";
import type { ConversationState } from "../conversationState.ts";
import { DataCode } from "../DataCode.tsx";
import { howLongText } from "../i18n.ts";
import { language, t } from "../locale.ts";
import { ProblemShown } from "../ProblemShown.tsx";
import { RewardShown } from "../RewardShown.tsx";

export function ConsentScreen(props: { state: ConversationState; conversation: Conversation }) {
  const { phase, problem, access, reward, store, retryWait } = props.state;
  return (
    <>
      <ProblemShown problem={problem()} />
      <Show when={phase() === "error" && access()}>{(a) => <DataCode code={a().dataCode} />}</Show>
      <Show when={phase() === "error" && reward()}>{(r) => <RewardShown reward={r()} access={access()} />}</Show>
      <section class="consent" data-testid="consent">
        <h2>{t("consent.title")}</h2>
        <ul>
          <li>
            <strong>{t("consent.whatLabel")}</strong> {t("consent.what")}
          </li>
          <li>
            <strong>{t("consent.whyLabel")}</strong> {t("consent.why")}
          </li>
          <li data-testid="consent-how-long">
            <strong>{t("consent.howLongLabel")}</strong> {howLongText(language(), store()?.retention)}
          </li>
          <li data-testid="consent-screen">
            <strong>{t("consent.screenLabel")}</strong> {t("consent.screen")}
          </li>
          <li>{t("consent.code")}</li>
        </ul>
        <p class="consent-act">{t("consent.act")}</p>
      </section>
      <button
        class="primary"
        type="button"
        data-testid="start"
        onClick={props.conversation.start}
        disabled={retryWait() > 0}
      >
        {phase() !== "error" ? t("start") : retryWait() > 0 ? t("retryIn", { seconds: retryWait() }) : t("retry")}
      </button>
      <p class="hint">{t("intro")}</p>
    </>
  );
}

// The customer's page (/?store=<code>): the header (title, store, language)
// and the screen of the conversation's phase. The conversation's state is
// created here and shared with the screens (screens/); conversation.ts runs it.
import { Match, Show, Switch } from "solid-js";
import { createConversation } from "./conversation.ts";
import { createConversationState } from "./conversationState.ts";
import { switchLanguage, t } from "./locale.ts";
import { ProblemShown } from "./ProblemShown.tsx";
import { storeCode } from "./pageLink.ts";
import { CheckingStore } from "./screens/CheckingStore.tsx";
import { Connecting } from "./screens/Connecting.tsx";
import { ConsentScreen } from "./screens/ConsentScreen.tsx";
import { ConversationScreen } from "./screens/ConversationScreen.tsx";

export function App() {
  const state = createConversationState();
  const conversation = createConversation(state);
  const { phase, problem, store, noStore } = state;

  return (
    <main class="app">
      <header>
        <div class="heading">
          <h1>{t("title")}</h1>
          <Show when={!noStore()}>
            <p class="store" data-testid="store">
              {store()?.name ?? t("store", { store: storeCode })}
            </p>
          </Show>
        </div>
        <button type="button" class="language" data-testid="language" onClick={switchLanguage}>
          {t("language")}
        </button>
      </header>
      {/* biome-ignore lint/a11y/useMediaCaption: the AI's words are shown on screen as the question text */}
      <audio ref={conversation.playAiVoiceOn} autoplay data-testid="ai-voice" />
      <Switch>
        <Match when={phase() === "checking"}>
          <CheckingStore />
        </Match>
        {/* Nothing can be started here: only why. */}
        <Match when={phase() === "unavailable"}>
          <ProblemShown problem={problem()} />
        </Match>
        <Match when={phase() === "idle" || phase() === "error"}>
          <ConsentScreen state={state} conversation={conversation} />
        </Match>
        <Match when={phase() === "starting"}>
          <Connecting />
        </Match>
        <Match when={phase() === "live" || phase() === "moved" || phase() === "ending" || phase() === "ended"}>
          <ConversationScreen state={state} conversation={conversation} />
        </Match>
      </Switch>
    </main>
  );
}

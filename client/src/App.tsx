import { AiSpeechState, type ConversationEnded, EndReason, type FeedbackScore, StreamState } from "@parley/proto/live";
import { createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import { Connection, ServerError } from "./connection.ts";
import { formatReward, switchLanguage, t } from "./locale.ts";
import { ScoreGauge } from "./ScoreGauge.tsx";
import { applySegment, type ShownSegment } from "./transcript.ts";
import { connectVoice, MicrophoneDeniedError, NoMicrophoneError, openMicrophone, type VoiceLink } from "./voice.ts";

type Phase = "idle" | "starting" | "live" | "ending" | "ended" | "error";

const params = new URLSearchParams(location.search);
const storeCode = params.get("store") ?? "demo";
const rawAudio = params.get("audio") === "raw";

export function App() {
  const [phase, setPhase] = createSignal<Phase>("idle");
  const [problem, setProblem] = createSignal("");
  const [notice, setNotice] = createSignal("");
  const [segments, setSegments] = createSignal<ShownSegment[]>([]);
  const [score, setScore] = createSignal<FeedbackScore>();
  const [question, setQuestion] = createSignal<{ turn: number; text: string }>();
  const [aiSpeech, setAiSpeech] = createSignal<"none" | "speaking" | "done" | "interrupted">("none");
  const aiSpeaking = () => aiSpeech() === "speaking";
  const [ending, setEnding] = createSignal<ConversationEnded>();
  let connection: Connection | undefined;
  let voice: VoiceLink | undefined;
  let aiAudio: HTMLAudioElement | undefined;

  const hangUp = () => {
    voice?.stop();
    voice = undefined;
    connection?.close();
  };
  const fail = (message: string) => {
    setProblem(message);
    setPhase("error");
    hangUp();
  };

  async function start() {
    setPhase("starting");
    setProblem("");
    setSegments([]);
    setScore(undefined);
    setQuestion(undefined);
    setEnding(undefined);
    try {
      const microphone = await openMicrophone(rawAudio);
      const res = await fetch("/api/sessions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ storeCode }),
      });
      if (!res.ok) throw new Error(t("startFailed", { status: res.status }));
      const { token } = (await res.json()) as { token: string };
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      connection = await Connection.open(`${scheme}://${location.host}/ws`);
      connection.onEvent = (event) => {
        const kind = event.kind;
        switch (kind.case) {
          case "transcript":
            setSegments((s) => applySegment(s, kind.value));
            break;
          case "score":
            if (!kind.value.isFinal) setScore(kind.value);
            break;
          case "aiTurn":
            setQuestion({ turn: kind.value.turn, text: kind.value.text });
            break;
          case "aiSpeech":
            setAiSpeech(
              kind.value.state === AiSpeechState.SPEAKING
                ? "speaking"
                : kind.value.state === AiSpeechState.INTERRUPTED
                  ? "interrupted"
                  : "done",
            );
            break;
          case "conversationEnded":
            setEnding(kind.value);
            if (kind.value.finalScore) setScore(kind.value.finalScore);
            void finish();
            break;
          case "status": {
            const { state, detail } = kind.value;
            if (state === StreamState.RECONNECTING) setNotice(t("reconnecting"));
            else if (state === StreamState.LIVE) setNotice("");
            else if (state === StreamState.FAILED) fail(t("serviceStopped", { detail }));
            break;
          }
        }
      };
      connection.onClose = (code) => {
        if (phase() === "live" || phase() === "starting") fail(code === 4001 ? t("interrupted") : t("connectionLost"));
      };
      await connection.request({ case: "join", value: { token } }, "joined");
      voice = await connectVoice(connection, microphone);
      if (aiAudio) {
        aiAudio.srcObject = new MediaStream([voice.aiVoice]);
        void aiAudio.play().catch(() => {}); // started by the tap on "Start talking"
      }
      setPhase("live");
    } catch (error) {
      if (error instanceof MicrophoneDeniedError) fail(t("micDenied"));
      else if (error instanceof NoMicrophoneError) fail(t("noMic"));
      else if (error instanceof ServerError) fail(t("refused", { message: error.message }));
      else fail((error as Error).message || t("wrong"));
    }
  }

  /** The customer is done (or the AI ended the conversation): the final score arrives before the reply. */
  async function finish() {
    if (phase() !== "live") return;
    setPhase("ending");
    try {
      await connection?.request({ case: "endSession", value: {} }, "sessionEnded");
    } catch {
      /* what we have is shown */
    }
    hangUp();
    setPhase("ended");
  }

  onCleanup(hangUp);

  return (
    <main class="app">
      <header>
        <h1>{t("title")}</h1>
        <p class="store">{t("store", { store: storeCode })}</p>
        <button type="button" class="language" data-testid="language" onClick={switchLanguage}>
          {t("language")}
        </button>
      </header>
      {/* biome-ignore lint/a11y/useMediaCaption: the AI's words are shown on screen as the question text */}
      <audio ref={aiAudio} autoplay data-testid="ai-voice" />
      <Switch>
        <Match when={phase() === "idle" || phase() === "error"}>
          <Show when={problem()}>
            <p class="problem" role="alert" data-testid="problem">
              {problem()}
            </p>
          </Show>
          <button class="primary" type="button" data-testid="start" onClick={start}>
            {phase() === "error" ? t("retry") : t("start")}
          </button>
          <p class="hint">{t("intro")}</p>
        </Match>
        <Match when={phase() === "starting"}>
          <p class="status" data-testid="status">
            {t("connecting")}
          </p>
        </Match>
        <Match when={phase() === "live" || phase() === "ending" || phase() === "ended"}>
          <Show when={phase() === "live"}>
            <p class="status live" data-testid="status" data-ai-speech={aiSpeech()}>
              <span class="dot" /> {aiSpeaking() ? t("asking") : t("listening")}
            </p>
          </Show>
          <Show when={notice()}>
            <p class="notice" role="status">
              {notice()}
            </p>
          </Show>
          <Show when={phase() === "ended"}>
            <section class="ended" data-testid="ended">
              <h2>{t("thanks")}</h2>
              <Show when={ending()}>
                {(e) => (
                  <>
                    <Show when={e().reason === EndReason.ENDED_BY_ADMIN}>
                      <p class="notice" role="status" data-testid="ended-by-admin">
                        {t("endedByAdmin")}
                      </p>
                    </Show>
                    <p data-testid="final-score">
                      {t("finalScore")} <strong>{e().finalScore?.score ?? 0}</strong> / 100
                    </p>
                    <p class="summary">{e().summary}</p>
                    <Show when={e().rewardMinor > 0} fallback={<p class="reward">{t("rewardLater")}</p>}>
                      <p class="reward" data-testid="reward">
                        {t("earned", { amount: formatReward(e().rewardMinor, e().currency) })}
                      </p>
                    </Show>
                  </>
                )}
              </Show>
            </section>
          </Show>
          <Show when={score()}>{(s) => <ScoreGauge score={s()} />}</Show>
          <Show when={question() && phase() === "live"}>
            <p class="question" data-testid="question" data-turn={question()?.turn}>
              {question()?.text}
            </p>
          </Show>
          <section class="transcript" aria-live="polite" data-testid="transcript">
            <For each={segments()}>
              {(s) => (
                <span class={s.isFinal ? "final" : "partial"} data-final={s.isFinal ? "1" : "0"} data-segment={s.id}>
                  {s.text}{" "}
                </span>
              )}
            </For>
          </section>
          <Show when={phase() === "live"}>
            <button class="secondary" type="button" data-testid="finish" onClick={finish}>
              {t("done")}
            </button>
          </Show>
        </Match>
      </Switch>
    </main>
  );
}

import { AiSpeechState, type ConversationEnded, type FeedbackScore, StreamState } from "@parley/proto/live";
import { ErrorCode } from "@parley/proto/ws";
import { createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import { Connection, ServerError } from "./connection.ts";
import { ScoreGauge } from "./ScoreGauge.tsx";
import { applySegment, type ShownSegment } from "./transcript.ts";
import { connectVoice, MicrophoneDeniedError, NoMicrophoneError, openMicrophone, type VoiceLink } from "./voice.ts";

type Phase = "idle" | "starting" | "live" | "ending" | "ended" | "error";

/** The node refused a new session for now (no speech capacity, or too many attempts). */
class BusyError extends Error {}

const params = new URLSearchParams(location.search);
const storeCode = params.get("store") ?? "demo";
const rawAudio = params.get("audio") === "raw";

/** What the customer reads when the service has no room for them right now. */
const BUSY = "We're busy right now. Please try again in a moment.";

const formatReward = (minor: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "SEK" }).format(minor / 100);

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
      if (res.status === 503 || res.status === 429) throw new BusyError();
      if (!res.ok) throw new Error(`could not start a session (${res.status})`);
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
            if (state === StreamState.RECONNECTING)
              setNotice("Reconnecting the speech service… keep talking, nothing is lost.");
            else if (state === StreamState.LIVE) setNotice("");
            else if (state === StreamState.FAILED) fail(`The voice service stopped: ${detail}. Please try again.`);
            break;
          }
        }
      };
      connection.onClose = (code) => {
        if (phase() === "live" || phase() === "starting")
          fail(
            code === 4001
              ? "The call was interrupted on our side. Please try again."
              : "Connection lost. Check your network and try again.",
          );
      };
      await connection.request({ case: "join", value: { token } }, "joined");
      voice = await connectVoice(connection, microphone);
      if (aiAudio) {
        aiAudio.srcObject = new MediaStream([voice.aiVoice]);
        void aiAudio.play().catch(() => {}); // started by the tap on "Start talking"
      }
      setPhase("live");
    } catch (error) {
      if (error instanceof MicrophoneDeniedError)
        fail(
          "Microphone access was denied. Allow the microphone for this page in your browser settings, then try again.",
        );
      else if (error instanceof NoMicrophoneError)
        fail("No microphone was found. Connect one (or use your phone) and try again.");
      else if (error instanceof BusyError || (error instanceof ServerError && error.code === ErrorCode.UNAVAILABLE))
        fail(BUSY);
      else if (error instanceof ServerError) fail(`The server refused: ${error.message}`);
      else fail((error as Error).message || "Something went wrong.");
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
        <h1>How was your visit?</h1>
        <p class="store">Store {storeCode}</p>
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
            {phase() === "error" ? "Try again" : "Start talking"}
          </button>
          <p class="hint">Tell us what happened, in your own words. It takes one to three minutes.</p>
        </Match>
        <Match when={phase() === "starting"}>
          <p class="status" data-testid="status">
            Connecting…
          </p>
        </Match>
        <Match when={phase() === "live" || phase() === "ending" || phase() === "ended"}>
          <Show when={phase() === "live"}>
            <p class="status live" data-testid="status" data-ai-speech={aiSpeech()}>
              <span class="dot" /> {aiSpeaking() ? "Parley is asking…" : "Listening"}
            </p>
          </Show>
          <Show when={notice()}>
            <p class="notice" role="status">
              {notice()}
            </p>
          </Show>
          <Show when={phase() === "ended"}>
            <section class="ended" data-testid="ended">
              <h2>Thank you for your feedback!</h2>
              <Show when={ending()}>
                {(e) => (
                  <>
                    <p data-testid="final-score">
                      Final score: <strong>{e().finalScore?.score ?? 0}</strong> / 100
                    </p>
                    <p class="summary">{e().summary}</p>
                    <Show
                      when={e().rewardMinor > 0}
                      fallback={<p class="reward">Your reward is calculated from this score.</p>}
                    >
                      <p class="reward" data-testid="reward">
                        You earned {formatReward(e().rewardMinor, e().currency)}
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
              I'm done
            </button>
          </Show>
        </Match>
      </Switch>
    </main>
  );
}

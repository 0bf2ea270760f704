import { StreamState } from "@parley/proto/live";
import { createSignal, For, Match, onCleanup, Show, Switch } from "solid-js";
import { Connection, ServerError } from "./connection.ts";
import { applySegment, type ShownSegment } from "./transcript.ts";
import { MicrophoneDeniedError, NoMicrophoneError, openMicrophone, startSending } from "./voice.ts";

type Phase = "idle" | "starting" | "live" | "ended" | "error";

const params = new URLSearchParams(location.search);
const storeCode = params.get("store") ?? "demo";
const rawAudio = params.get("audio") === "raw";

export function App() {
  const [phase, setPhase] = createSignal<Phase>("idle");
  const [problem, setProblem] = createSignal("");
  const [notice, setNotice] = createSignal("");
  const [segments, setSegments] = createSignal<ShownSegment[]>([]);
  let connection: Connection | undefined;
  let stopSending: (() => void) | undefined;

  const fail = (message: string) => {
    setProblem(message);
    setPhase("error");
    stopSending?.();
    connection?.close();
  };

  async function start() {
    setPhase("starting");
    setProblem("");
    setSegments([]);
    try {
      const track = await openMicrophone(rawAudio);
      const res = await fetch("/api/sessions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ storeCode }),
      });
      if (!res.ok) throw new Error(`could not start a session (${res.status})`);
      const { token } = (await res.json()) as { token: string };
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      connection = await Connection.open(`${scheme}://${location.host}/ws`);
      connection.onEvent = (event) => {
        if (event.kind.case === "transcript") {
          const segment = event.kind.value;
          setSegments((s) => applySegment(s, segment));
        } else if (event.kind.case === "status") {
          const { state, detail } = event.kind.value;
          if (state === StreamState.RECONNECTING)
            setNotice("Reconnecting the speech service… keep talking, nothing is lost.");
          else if (state === StreamState.LIVE) setNotice("");
          else if (state === StreamState.FAILED) fail(`The voice service stopped: ${detail}. Please try again.`);
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
      stopSending = await startSending(connection, track);
      setPhase("live");
    } catch (error) {
      if (error instanceof MicrophoneDeniedError)
        fail(
          "Microphone access was denied. Allow the microphone for this page in your browser settings, then try again.",
        );
      else if (error instanceof NoMicrophoneError)
        fail("No microphone was found. Connect one (or use your phone) and try again.");
      else if (error instanceof ServerError) fail(`The server refused: ${error.message}`);
      else fail((error as Error).message || "Something went wrong.");
    }
  }

  async function finish() {
    try {
      await connection?.request({ case: "endSession", value: {} }, "sessionEnded");
    } catch {
      /* the transcript shown is what we have */
    }
    stopSending?.();
    connection?.close();
    setPhase("ended");
  }

  onCleanup(() => {
    stopSending?.();
    connection?.close();
  });

  return (
    <main class="app">
      <header>
        <h1>How was your visit?</h1>
        <p class="store">Store {storeCode}</p>
      </header>
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
        <Match when={phase() === "live" || phase() === "ended"}>
          <Show when={phase() === "live"}>
            <p class="status live" data-testid="status">
              <span class="dot" /> Listening
            </p>
          </Show>
          <Show when={notice()}>
            <p class="notice" role="status">
              {notice()}
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
          <Show when={phase() === "ended"}>
            <p class="status" data-testid="ended">
              Thank you for your feedback!
            </p>
          </Show>
        </Match>
      </Switch>
    </main>
  );
}

// The admin's stream monitor: every live session with its stage and media
// health (mediasoup's stats of the customer's producer), speech-recognition
// lag and scoring latency; the node's machinery (mediasoup workers and their
// CPU, speech workers, the LLM queue, the event loop); and the actions: end
// a session, or listen in through the SFU (until the session leaves the
// report or the socket drops: the node lets go of the listener then). A node
// that is draining (SIGTERM) or in maintenance says so in its panel.
import { type MonitorReport, Role, type SessionHealth, Stage } from "@parley/proto/wall";
import { createSignal, For, onCleanup, Show } from "solid-js";
import { wallSocketUrl } from "./auth.ts";
import { type ConnectionState, WallConnection } from "./connection.ts";
import { Header } from "./Header.tsx";
import { type Listening, listenIn } from "./listen.ts";
import { logProblem, problemText } from "./problems.ts";
import { formatDuration, formatNumber, t } from "./ui.ts";

/** Milliseconds once the figure exists (`known`); a figure under 1 ms is not "missing". */
const ms = (v: number, known = v > 0) =>
  known ? (v < 1 ? t("mon.underOneMs") : t("mon.ms", { n: formatNumber(v) })) : "—";

export function Monitor(props: { token: string; kiosk: boolean; onRefused: (why: Error | undefined) => void }) {
  const [report, setReport] = createSignal<MonitorReport>();
  const [connection, setConnection] = createSignal<ConnectionState>("connecting");
  /** What went wrong, in the viewer's language (kept as a function: it follows a language switch). */
  const [problem, setProblem] = createSignal<() => string>();
  const failed = (e: unknown) => {
    logProblem("monitor", e);
    setProblem(() => () => t("mon.failed", { reason: problemText(e) }));
  };
  const [listening, setListening] = createSignal<{ sessionId: string; link: Listening; packets: number }>();
  /** A listen-in on its way: one at a time (a second would replace the first on the node, mid-way). */
  const [starting, setStarting] = createSignal(false);
  /** Counts the socket's drops: a listen-in begun on an earlier socket has lost its listener on the node. */
  let socketEpoch = 0;
  let admin = false;
  let disposed = false;
  let audio!: HTMLAudioElement;

  const stopListening = () => {
    const current = listening();
    if (!current) return;
    current.link.stop();
    audio.srcObject = null;
    setListening(undefined);
  };

  const conn = new WallConnection({
    url: wallSocketUrl(),
    token: props.token,
    onWelcome: (w) => {
      admin = w.role === Role.ADMIN;
      if (!admin) setProblem(() => () => t("mon.adminsOnly"));
    },
    onReady: () => {
      if (admin) void conn.request({ case: "watchMonitor", value: { on: true } }, "done").catch(failed);
    },
    onState: (s, refusal) => {
      setConnection(s);
      if (s !== "live") {
        socketEpoch++;
        stopListening();
      }
      if (s === "refused") props.onRefused(refusal);
    },
    onMessage: (m) => {
      if (m.kind.case !== "monitor") return;
      const report = m.kind.value;
      setReport(report);
      const l = listening();
      if (l && !report.sessions.some((s) => s.sessionId === l.sessionId && s.stage !== Stage.ENDING)) stopListening();
    },
  });
  const poll = setInterval(async () => {
    const l = listening();
    if (!l) return;
    const packets = await l.link.packetsReceived().catch(() => l.packets);
    // Stopped (or another started) while the stats were read: nothing to show of it.
    if (listening()?.link === l.link) setListening({ ...l, packets });
  }, 1000);
  onCleanup(() => {
    disposed = true;
    clearInterval(poll);
    stopListening();
    conn.close();
  });

  const end = async (s: SessionHealth) => {
    if (!confirm(t("mon.confirmEnd"))) return;
    await conn.request({ case: "endSession", value: { sessionId: s.sessionId } }, "done").catch(failed);
  };
  const toggleListen = async (s: SessionHealth) => {
    if (starting()) return;
    const wasThis = listening()?.sessionId === s.sessionId;
    stopListening();
    if (wasThis) return;
    setStarting(true);
    const epoch = socketEpoch;
    try {
      const link = await listenIn(conn, s.sessionId);
      const ended = !report()?.sessions.some((x) => x.sessionId === s.sessionId && x.stage !== Stage.ENDING);
      if (disposed || epoch !== socketEpoch || ended) {
        link.stop();
        return;
      }
      audio.srcObject = new MediaStream([link.track]);
      void audio.play().catch(() => {});
      setListening({ sessionId: s.sessionId, link, packets: 0 });
    } catch (e) {
      // A drop of the socket meanwhile says it all already (the header shows it).
      if (epoch === socketEpoch) failed(e);
    } finally {
      setStarting(false);
    }
  };

  return (
    <div class={`monitor ${props.kiosk ? "kiosk" : ""}`} data-testid="monitor">
      <Header
        title={t("app.monitor")}
        connection={connection()}
        kiosk={props.kiosk}
        nav={{ href: `${import.meta.env.BASE_URL}${location.search}`, label: t("app.wall") }}
      />
      {/* biome-ignore lint/a11y/useMediaCaption: a live customer's voice, listened to by an admin */}
      <audio ref={audio} autoplay />
      <Show when={problem()}>
        {(text) => (
          <p class="problem" role="alert" data-testid="monitor-problem">
            {text()()}
          </p>
        )}
      </Show>
      <Show when={report()}>
        {(r) => (
          <>
            <section class="machinery">
              <div class="panel" data-testid="node">
                <h2>{t("mon.node.title", { node: r().nodeId })}</h2>
                <Show when={r().draining}>
                  <p class="node-state" data-testid="node-draining">
                    {t("mon.draining")}
                  </p>
                </Show>
                <Show when={r().maintenance}>
                  <p class="node-state" data-testid="node-maintenance">
                    {t("mon.maintenance")}
                  </p>
                </Show>
                <p>
                  {t("mon.loop", {
                    mean: formatNumber(r().eventLoopLagMs, 1),
                    max: formatNumber(r().eventLoopLagMaxMs, 1),
                  })}
                </p>
                <p>{t("mon.dashboards", { n: r().dashboardClients, slow: r().slowDashboardClients })}</p>
                <p>{t("mon.allNodes", { n: r().liveSessionsAllNodes })}</p>
              </div>
              <div class="panel" data-testid="media-workers">
                <h2>{t("mon.media")}</h2>
                <table>
                  <thead>
                    <tr>
                      <th>{t("mon.pid")}</th>
                      <th>{t("mon.cpu")}</th>
                      <th>{t("mon.routers")}</th>
                      <th>{t("mon.transports")}</th>
                      <th>{t("mon.sessions")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={r().mediaWorkers}>
                      {(w) => (
                        <tr>
                          <td>{w.pid}</td>
                          <td>{formatNumber(w.cpuPercent, 1)} %</td>
                          <td>{w.routers}</td>
                          <td>{w.transports}</td>
                          <td>{w.sessions}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
              <div class="panel" data-testid="speech-workers">
                <h2>{t("mon.speech")}</h2>
                <table>
                  <thead>
                    <tr>
                      <th />
                      <th>{t("mon.engine")}</th>
                      <th>{t("mon.streams")}</th>
                      <th>{t("mon.capacity")}</th>
                      <th>{t("mon.lag")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={r().speechWorkers}>
                      {(w) => (
                        <tr class={w.ok ? "" : "down"} title={w.error}>
                          <td>
                            {w.address} {w.ok ? t("mon.ok") : t("mon.down")}
                          </td>
                          <td>{w.engine}</td>
                          <td>{w.activeStreams}</td>
                          <td>{w.maxStreams}</td>
                          <td>{ms(w.lagMs)}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
              <div class="panel" data-testid="llm">
                <h2>{t("mon.llm")}</h2>
                <Show when={r().llm?.configured} fallback={<p>{t("mon.builtin")}</p>}>
                  <p>
                    {r().llm?.engine}: {t("mon.running")} {r().llm?.running}/{r().llm?.maxConcurrent} ·{" "}
                    {t("mon.waiting")} {r().llm?.waiting}/{r().llm?.maxWaiting}
                  </p>
                </Show>
              </div>
            </section>
            <section class="sessions">
              <h2>{t("mon.sessions")}</h2>
              <Show when={r().sessions.length > 0} fallback={<p class="empty">{t("mon.noSessions")}</p>}>
                <table data-testid="sessions">
                  <thead>
                    <tr>
                      <th>{t("mon.business")}</th>
                      <th>{t("mon.stage")}</th>
                      <th>{t("mon.duration")}</th>
                      <th>{t("mon.bitrate")}</th>
                      <th>{t("mon.loss")}</th>
                      <th>{t("mon.jitter")}</th>
                      <th>{t("mon.rtt")}</th>
                      <th>{t("mon.producerScore")}</th>
                      <th>{t("mon.feedback")}</th>
                      <th>{t("mon.asrLag")}</th>
                      <th>{t("mon.scoringLatency")}</th>
                      <th>{t("mon.node")}</th>
                      <th>{t("mon.actions")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={r().sessions}>
                      {(s) => (
                        <tr data-testid="session-row" data-session={s.sessionId} data-stage={Stage[s.stage]}>
                          <td title={s.businessId}>
                            {s.businessName || s.businessId} / {s.storeCode}
                          </td>
                          <td>
                            <span class={`stage s${s.stage}`}>{t(`stage.${Stage[s.stage]}` as "stage.ICE")}</span>
                          </td>
                          <td>{formatDuration(s.durationMs)}</td>
                          <td data-testid="bitrate">
                            {s.inboundBitrateBps ? formatNumber(s.inboundBitrateBps / 1000, 1) : "—"}
                          </td>
                          <td>{formatNumber(100 * s.packetLoss, 1)} %</td>
                          <td>{ms(s.jitterMs)}</td>
                          <td>{ms(s.rttMs)}</td>
                          <td>{s.producerScore ? `${s.producerScore}/10` : "—"}</td>
                          <td>
                            <Show when={s.stage >= Stage.SCORING} fallback="—">
                              {s.score} <small>· {t("mon.words", { n: s.words })}</small>
                            </Show>
                          </td>
                          <td>{ms(s.asrLagMs, s.stage >= Stage.TRANSCRIBING && s.asrLagMs > 0)}</td>
                          <td>{ms(s.scoringLatencyMs, s.stage >= Stage.SCORING)}</td>
                          <td class="workers">
                            {s.nodeId}
                            <Show when={s.mediaWorkerPid}>
                              {" "}
                              · {t("mon.pid")} {s.mediaWorkerPid}
                            </Show>
                            <Show when={s.speechWorker}> · {s.speechWorker}</Show>
                          </td>
                          <td class="actions">
                            <Show when={s.nodeId === r().nodeId && s.stage !== Stage.ENDING}>
                              <button type="button" class="small danger" data-testid="end" onClick={() => void end(s)}>
                                {t("mon.end")}
                              </button>
                              <button
                                type="button"
                                class="small"
                                data-testid="listen"
                                disabled={starting()}
                                onClick={() => void toggleListen(s)}
                              >
                                {listening()?.sessionId === s.sessionId ? t("mon.stopListening") : t("mon.listen")}
                              </button>
                              <Show when={listening()?.sessionId === s.sessionId}>
                                <span
                                  class="listening"
                                  data-testid="listen-packets"
                                  data-packets={listening()?.packets ?? 0}
                                >
                                  {t("mon.listening")} {listening()?.packets}
                                </span>
                              </Show>
                            </Show>
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </Show>
            </section>
          </>
        )}
      </Show>
    </div>
  );
}

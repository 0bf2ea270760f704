// A public screen (?public=1, usually with &kiosk=1): only feedback the
// business approved, redacted by the server, newest first. No live
// transcripts, no scores in progress, nothing unmoderated reaches it. It
// shows one business: an admin's must name it (?business=).
import { type PublicFeedback, Role } from "@parley/proto/wall";
import { createSignal, For, onCleanup, Show } from "solid-js";
import { wallSocketUrl } from "./auth.ts";
import { type ConnectionState, WallConnection } from "./connection.ts";
import { Header } from "./Header.tsx";
import { problemText } from "./problems.ts";
import { scopeProblem } from "./scope.ts";
import { formatTime, t, topic } from "./ui.ts";

export function PublicScreen(props: {
  token: string;
  kiosk: boolean;
  businessId: string;
  storeCodes: string[];
  onRefused: (why: Error | undefined) => void;
}) {
  const [items, setItems] = createSignal<PublicFeedback[]>([]);
  const [connection, setConnection] = createSignal<ConnectionState>("connecting");
  const [admin, setAdmin] = createSignal(false);
  /** The node's reason for refusing this screen's scope for good. */
  const [failure, setFailure] = createSignal<{ error: Error | undefined }>();
  const conn = new WallConnection({
    url: wallSocketUrl(),
    token: props.token,
    subscribe: () => ({
      case: "subscribe",
      value: { publicScreen: true, businessId: props.businessId, storeCodes: props.storeCodes },
    }),
    onWelcome: (w) => setAdmin(w.role === Role.ADMIN),
    onSnapshot: (s) => setItems(s.publicFeedback),
    onState: (s, refusal) => {
      setConnection(s);
      if (s === "refused") props.onRefused(refusal);
      if (s === "failed") setFailure({ error: refusal });
    },
    onMessage: (m) => {
      if (m.kind.case === "publicFeedback") {
        const item = m.kind.value;
        setItems((list) => [item, ...list.filter((x) => x.sessionId !== item.sessionId)].slice(0, 30));
      } else if (m.kind.case === "publicWithdrawn") {
        const id = m.kind.value.sessionId;
        setItems((list) => list.filter((x) => x.sessionId !== id));
      }
    },
  });
  onCleanup(() => conn.close());
  return (
    <div class={`public ${props.kiosk ? "kiosk" : ""}`} data-testid="public">
      <Header title={t("app.public")} connection={connection()} kiosk={props.kiosk} />
      <Show when={failure()}>
        {(f) => (
          <p class="problem" role="alert" data-testid="scope-problem">
            {scopeProblem(
              { businessId: props.businessId, storeCodes: props.storeCodes, publicScreen: true, admin: admin() },
              problemText(f().error),
            )}
          </p>
        )}
      </Show>
      <Show
        when={items().length > 0}
        fallback={
          <Show when={!failure()}>
            <p class="empty">{t("public.empty")}</p>
          </Show>
        }
      >
        <section class="quotes">
          <For each={items()}>
            {(item) => (
              <blockquote data-testid="public-feedback" data-session={item.sessionId}>
                <p>“{item.text}”</p>
                <footer>
                  {item.storeCode} · {formatTime(Number(item.endedAtMs))}
                  <For each={item.topics}>{(name) => <span class="chip">{topic(name)}</span>}</For>
                </footer>
              </blockquote>
            )}
          </For>
        </section>
      </Show>
    </div>
  );
}

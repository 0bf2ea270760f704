// The business's live feedback wall: tiles, alerts, filters, the live ticker
// (one card per conversation, newest first), drill-down, trends and
// moderation. In kiosk mode (?kiosk=1, a TV on the wall) only the tiles,
// alerts and ticker show, in large type, without controls. A filter asks the
// node for the finished conversations that match it (the snapshot holds only
// the latest of the whole scope), a page at a time ("Show older" asks for the
// next); live ones are filtered here as they come. Without a filter the
// snapshot's latest are the first page, and "Show older" goes on from there.

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { LiveEnvelope } from "@parley/proto/live";
import {
  type Alert,
  type Conversation,
  type FeedbackFilterSchema,
  type FeedbackList,
  type ModerationStatus,
  Role,
  type ModerationSettings as Settings,
  type Snapshot,
  type StoreInfo,
  type Tiles as TilesData,
  TrendRange,
  type Trends as TrendsData,
  type Welcome,
} from "@parley/proto/wall";
import { batch, createEffect, createMemo, createSignal, on, onCleanup, Show } from "solid-js";
import { createStore, produce } from "solid-js/store";
import { Alerts } from "./Alerts.tsx";
import { wallSocketUrl } from "./auth.ts";
import { type ConnectionState, NotConnectedError, WallConnection } from "./connection.ts";
import { DrillDown } from "./DrillDown.tsx";
import { Filters } from "./Filters.tsx";
import { FindByCode } from "./FindByCode.tsx";
import { Header } from "./Header.tsx";
import { ModerationSettings } from "./ModerationSettings.tsx";
import { logProblem, problemText } from "./problems.ts";
import { scopeProblem } from "./scope.ts";
import {
  applyAlert,
  applyEnvelope,
  applyFeedback,
  applyModeration,
  type Cards,
  cardsOfSnapshot,
  type Filter,
  facets,
  feedbackQuery,
  isLive,
  matches,
  NO_FILTER,
  sortedCards,
  todaysAlerts,
  trimCards,
} from "./state.ts";
import { Ticker } from "./Ticker.tsx";
import { Tiles } from "./Tiles.tsx";
import { Trends } from "./Trends.tsx";
import { serverClock, serverNow, setServerTime, t } from "./ui.ts";
import { ViewerDayWatch, viewerZone } from "./viewerDay.ts";

const MAX_CARDS = 300;
/** The finished conversations a filter asks the node for at a time: the latest that match, then older pages. */
const HISTORY_LIMIT = 100;

/**
 * The next page of the history shown: the query of its first page (sent again
 * as it was; {} without a filter) and the node's cursor.
 */
interface NextPage {
  query: MessageInitShape<typeof FeedbackFilterSchema>;
  cursor: string;
}

export function Wall(props: {
  token: string;
  kiosk: boolean;
  /** ?business=: an admin's wall of one business (moderation settings need one); "" for all. */
  businessId: string;
  storeCodes: string[];
  onRefused: (why: Error | undefined) => void;
}) {
  const [state, setState] = createStore<{ cards: Cards }>({ cards: {} });
  const [filter, setFilter] = createStore<Filter>({ ...NO_FILTER });
  const [connection, setConnection] = createSignal<ConnectionState>("connecting");
  /** The node's refusal of this wall's scope for good. */
  const [failure, setFailure] = createSignal<{ error: Error | undefined }>();
  const [welcome, setWelcome] = createSignal<Welcome>();
  const [stores, setStores] = createSignal<StoreInfo[]>([]);
  const [alerts, setAlerts] = createSignal<Alert[]>([]);
  // The alerts are today's: at the viewer's midnight the day before's leave, as the next snapshot
  // would leave them out (a kiosk left on overnight showed yesterday's as today's).
  const today = new ViewerDayWatch({
    now: serverClock,
    zone: viewerZone,
    onNewDay: (startMs) => setAlerts((a) => todaysAlerts(a, startMs)),
  });
  // A machine that slept may wake past midnight before its late timer runs.
  const checkDay = () => {
    if (document.visibilityState === "visible") today.check();
  };
  document.addEventListener("visibilitychange", checkDay);
  const [tiles, setTiles] = createSignal<TilesData>();
  const [trends, setTrends] = createSignal<TrendsData>();
  const [range, setRange] = createSignal(TrendRange.TODAY);
  const [settings, setSettings] = createSignal<Settings>();
  const [historySource, setHistorySource] = createSignal("");
  const [selected, setSelected] = createSignal<string>();
  const [conversation, setConversation] = createSignal<Conversation>();
  const [conversationFailed, setConversationFailed] = createSignal(false);
  /** The history of the filter on its way, or failed. */
  const [searching, setSearching] = createSignal(false);
  const [searchFailed, setSearchFailed] = createSignal(false);
  /** Older conversations (the filter's, or with none any), when the node has more; the page on its way, or failed. */
  const [nextPage, setNextPage] = createSignal<NextPage>();
  const [loadingOlder, setLoadingOlder] = createSignal(false);
  const [olderFailed, setOlderFailed] = createSignal(false);
  /** Cards of the older pages shown: kept beyond MAX_CARDS, or a page would trim itself away. */
  let olderCards = 0;
  const cardCap = () => MAX_CARDS + olderCards;
  /** The latest snapshot's cursor for the page after its recent conversations ("": it holds them all). */
  let snapshotOlder = "";

  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** A refresh under way, and whether another was asked for meanwhile. */
  let refreshing = false;
  let refreshAgain = false;
  const refreshFigures = (delayMs = 1000) => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      // One at a time: on a slow database, refreshes piling up would fill the node's
      // in-flight cap and get a drill-down or a moderation click refused.
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = true;
      // The figures follow the store filter; an answer for a store no longer picked is dropped.
      const store = filter.store;
      const storeCodes = store ? [store] : [];
      const current = () => filter.store === store;
      const tiles = conn.request({ case: "getTiles", value: { storeCodes, ...viewerZone() } }, "tiles").then(
        (x) => {
          if (current()) setTiles(x);
        },
        () => {},
      );
      const trends = props.kiosk
        ? undefined
        : conn.request({ case: "getTrends", value: { range: range(), storeCodes, ...viewerZone() } }, "trends").then(
            (x) => {
              if (current()) setTrends(x);
            },
            () => {},
          );
      void Promise.all([tiles, trends]).then(() => {
        refreshing = false;
        if (refreshAgain) {
          refreshAgain = false;
          refreshFigures(0);
        }
      });
    }, delayMs);
  };

  /** The latest history asked for: an answer for a filter changed since is dropped. */
  let historyAsked = 0;
  /** A history request under way, and whether the filter changed meanwhile. */
  let historyBusy = false;
  let historyAgain = false;
  /**
   * Asks the node for the finished conversations that match the filter (its
   * stores, time, score, topic, sentiment, status, language), within this
   * wall's scope, and adds them to the cards; one request at a time, the
   * latest filter's last.
   */
  const refreshHistory = () => {
    const asked = ++historyAsked;
    const query = feedbackQuery(filter, serverNow());
    // Another filter (or a fresh snapshot): its pages start again from the latest.
    olderCards = 0;
    batch(() => {
      setNextPage(undefined);
      setLoadingOlder(false);
      setOlderFailed(false);
    });
    if (!query) {
      // No filter: the snapshot's recent conversations are the first page, and its cursor asks for the
      // next. Live ones only: no history.
      const older = filter.status === "live" ? "" : snapshotOlder;
      batch(() => {
        setSearching(false);
        setSearchFailed(false);
        setNextPage(older ? { query: {}, cursor: older } : undefined);
      });
      return;
    }
    if (historyBusy) {
      historyAgain = true;
      setSearching(true);
      return;
    }
    historyBusy = true;
    batch(() => {
      setSearching(true);
      setSearchFailed(false);
    });
    const current = () => asked === historyAsked;
    void conn
      .request({ case: "getFeedback", value: { filter: query, limit: HISTORY_LIMIT } }, "feedbackList")
      .then(
        (list) => {
          if (!current()) return;
          showFeedback(list);
          batch(() => {
            setSearching(false);
            setNextPage(list.nextCursor ? { query, cursor: list.nextCursor } : undefined);
          });
        },
        (error: unknown) => {
          if (!current()) return;
          setSearching(false);
          // A socket that closed meanwhile: the snapshot of the next one asks again.
          if (error instanceof NotConnectedError) return;
          logProblem("history of the filter not loaded", error);
          setSearchFailed(true);
        },
      )
      .finally(() => {
        historyBusy = false;
        if (historyAgain) {
          historyAgain = false;
          refreshHistory();
        }
      });
  };

  /** Puts a page of the history's matches on the wall, with their moderation and alerts. */
  const showFeedback = (list: FeedbackList) =>
    setState(
      produce((s) => {
        for (const f of [...list.feedback].reverse()) applyFeedback(s.cards, f);
        applyModeration(s.cards, list.moderation);
        for (const a of alerts()) applyAlert(s.cards, a);
        const at = serverNow();
        trimCards(s.cards, cardCap(), at, (c) => matches(c, filter, at));
      }),
    );

  /**
   * "Show older": the next page of the history shown (the filter's, or with
   * none the scope's), after the last one shown (the node's cursor, stable
   * while conversations keep ending), added to the cards. An answer for a
   * filter changed since is dropped.
   */
  const showOlder = () => {
    const page = nextPage();
    if (!page || loadingOlder()) return;
    const asked = historyAsked;
    const current = () => asked === historyAsked;
    batch(() => {
      setLoadingOlder(true);
      setOlderFailed(false);
    });
    void conn
      .request(
        { case: "getFeedback", value: { filter: page.query, limit: HISTORY_LIMIT, cursor: page.cursor } },
        "feedbackList",
      )
      .then(
        (list) => {
          if (!current()) return;
          // Only the cards this page adds: one already shown (it ended while this wall watched) raises no cap.
          olderCards += list.feedback.filter((f) => !state.cards[f.sessionId]).length;
          showFeedback(list);
          batch(() => {
            setLoadingOlder(false);
            setNextPage(list.nextCursor ? { query: page.query, cursor: list.nextCursor } : undefined);
          });
        },
        (error: unknown) => {
          if (!current()) return;
          setLoadingOlder(false);
          // A socket that closed meanwhile: its next snapshot starts the pages again from the first.
          if (error instanceof NotConnectedError) return;
          logProblem("older history not loaded", error);
          setOlderFailed(true);
        },
      );
  };

  /** Whether the conversation open in the drill-down is still live on the wall. */
  const selectedLive = () => {
    const id = selected();
    const card = id ? state.cards[id] : undefined;
    return !!card && !card.endedAtMs;
  };

  const onSnapshot = (snapshot: Snapshot) => {
    const wasLive = selectedLive();
    setServerTime(Number(snapshot.serverTimeMs));
    // The node's clock may differ from the one the day was last checked by.
    today.check();
    batch(() => {
      setState(
        produce((s) => {
          s.cards = cardsOfSnapshot(snapshot);
        }),
      );
      setStores(snapshot.stores);
      setAlerts(todaysAlerts(snapshot.alerts, today.startMs));
      setSettings(snapshot.moderationSettings);
      setHistorySource(snapshot.historySource);
    });
    // It ended while this wall was away: what the drill-down fetched while it was live is out of date.
    // Still live: the snapshot has its latest score only, the history its course while this wall was away.
    if (wasLive) fetchConversation(selected()!);
    refreshFigures(0);
    // The snapshot's cards are the scope's latest: a filter's older ones are asked for again,
    // and without one the pages go on from the snapshot's last.
    snapshotOlder = snapshot.recentNextCursor;
    refreshHistory();
  };

  const onLive = (e: LiveEnvelope) => {
    const wasLive = selected() === e.sessionId && selectedLive();
    setState(
      produce((s) => {
        applyEnvelope(s.cards, e);
        if (e.event?.kind.case === "conversationEnded") {
          const at = serverNow();
          trimCards(s.cards, cardCap(), at, (c) => matches(c, filter, at));
        }
      }),
    );
    // The drill-down's conversation was fetched mid-way (a partial copy, live): now it is whole.
    if (wasLive && !selectedLive()) fetchConversation(e.sessionId);
    const kind = e.event?.kind.case;
    // A reward decided (after the end) moves the money tiles; a withheld one perhaps the fraud tile.
    if (kind === "conversationEnded" || kind === "sessionStarted" || kind === "reward") refreshFigures();
  };

  const conn = new WallConnection({
    url: wallSocketUrl(),
    token: props.token,
    subscribe: () => ({
      case: "subscribe",
      // The viewer's day: the snapshot's alerts are today's.
      value: { businessId: props.businessId, storeCodes: props.storeCodes, recentLimit: 100, ...viewerZone() },
    }),
    onWelcome: setWelcome,
    onSnapshot,
    onState: (s, refusal) => {
      setConnection(s);
      if (s === "refused") props.onRefused(refusal);
      if (s === "failed") setFailure({ error: refusal });
    },
    onMessage: (m) => {
      switch (m.kind.case) {
        case "live":
          onLive(m.kind.value);
          break;
        case "alert": {
          const alert = m.kind.value;
          // An alert has one id on every node: one raised again (a node restarted) replaces its card.
          // One of the day before that arrives after midnight has no place among today's. (Checking the
          // day costs little, and alerts are few: a wall just woken may not have yet.)
          today.check();
          if (Number(alert.atMs) >= today.startMs)
            setAlerts((a) => [alert, ...a.filter((x) => x.id !== alert.id)].slice(0, 50));
          setState(produce((s) => applyAlert(s.cards, alert)));
          break;
        }
        case "conversationDeleted": {
          // The customer deleted their data: nothing of it stays on screen.
          const { sessionId } = m.kind.value;
          if (selected() === sessionId) setSelected(undefined);
          setState(produce((s) => delete s.cards[sessionId]));
          setAlerts((a) => a.filter((x) => x.sessionId !== sessionId));
          refreshFigures();
          break;
        }
        case "moderation": {
          const update = m.kind.value;
          setState(produce((s) => applyModeration(s.cards, update.states)));
          if (update.settings) setSettings(update.settings);
          break;
        }
        default:
          break;
      }
    },
  });
  const figures = setInterval(() => refreshFigures(0), 60_000);
  onCleanup(() => {
    clearInterval(figures);
    clearTimeout(refreshTimer);
    today.stop();
    document.removeEventListener("visibilitychange", checkDay);
    conn.close();
  });

  const all = createMemo(() => sortedCards(state.cards));
  const shown = createMemo(() => {
    const at = serverNow();
    return all().filter((c) => matches(c, filter, at));
  });
  // Like the other tiles, "live now" follows the store filter (the ticker's other filters are for browsing).
  // It counts what the ticker shows live: a conversation silent past the node's limit is not.
  const liveNow = createMemo(() => {
    const at = serverNow();
    return all().filter((c) => isLive(c, at) && (!filter.store || c.storeCode === filter.store)).length;
  });
  createEffect(
    on(
      () => filter.store,
      () => {
        // No figures of the store shown before while this one's are on their way.
        batch(() => {
          setTiles(undefined);
          setTrends(undefined);
        });
        refreshFigures(0);
      },
      { defer: true },
    ),
  );
  // Every filter but "live" finds finished conversations in the history too.
  createEffect(
    on(
      () => [filter.store, filter.time, filter.score, filter.topic, filter.sentiment, filter.status, filter.language],
      () => refreshHistory(),
      { defer: true },
    ),
  );
  const options = createMemo(() => facets(state.cards));
  const mayModerate = () => welcome()?.role === Role.OWNER || welcome()?.role === Role.ADMIN;
  /** The settings are one business's: an admin's wall must name it (?business=), as the node requires. */
  const maySetModeration = () =>
    !failure() && (welcome()?.role === Role.OWNER || (welcome()?.role === Role.ADMIN && props.businessId !== ""));

  /** The latest getConversation asked: an older answer (for another conversation, or out of date) is dropped. */
  let conversationAsked = 0;
  const fetchConversation = (sessionId: string) => {
    const asked = ++conversationAsked;
    const current = () => asked === conversationAsked && selected() === sessionId;
    void conn.request({ case: "getConversation", value: { sessionId } }, "conversation").then(
      (c) => {
        if (!current()) return;
        batch(() => {
          setConversation(c);
          setConversationFailed(false);
        });
      },
      (error: unknown) => {
        logProblem("conversation not loaded", error);
        // A copy fetched before stays (the drill-down shows the wall's own while it is out of date).
        if (current() && !conversation()) setConversationFailed(true);
      },
    );
  };
  const open = (sessionId: string) => {
    batch(() => {
      setSelected(sessionId);
      setConversation(undefined);
      setConversationFailed(false);
    });
    fetchConversation(sessionId);
  };
  const changeRange = (r: TrendRange) => {
    setRange(r);
    refreshFigures(0);
  };

  return (
    <div class={`wall ${props.kiosk ? "kiosk" : ""}`} data-testid="wall" data-connection={connection()}>
      <Header
        title={t("app.wall")}
        connection={connection()}
        historySource={historySource()}
        kiosk={props.kiosk}
        nav={
          welcome()?.role === Role.ADMIN
            ? { href: `${import.meta.env.BASE_URL}monitor${location.search}`, label: t("app.monitor") }
            : undefined
        }
      />
      <Show when={failure()}>
        {(f) => (
          <p class="problem" role="alert" data-testid="scope-problem">
            {scopeProblem(
              {
                businessId: props.businessId,
                storeCodes: props.storeCodes,
                publicScreen: false,
                admin: welcome()?.role === Role.ADMIN,
              },
              problemText(f().error),
            )}
          </p>
        )}
      </Show>
      <Tiles liveNow={liveNow()} tiles={tiles()} />
      <Alerts
        alerts={alerts()}
        {...(props.kiosk ? {} : { dismiss: (id: string) => setAlerts((a) => a.filter((x) => x.id !== id)), open })}
      />
      <main class="wall-main">
        <div class="wall-left">
          <Show when={!props.kiosk}>
            <Filters
              filter={filter}
              set={(key, value) => setFilter(key, value)}
              stores={stores()}
              topics={options().topics}
              languages={options().languages}
            />
          </Show>
          <Ticker
            cards={props.kiosk ? shown().slice(0, 12) : shown()}
            kiosk={props.kiosk}
            searching={searching()}
            searchFailed={searchFailed()}
            older={
              nextPage() && !props.kiosk
                ? { loading: loadingOlder(), failed: olderFailed(), show: showOlder }
                : undefined
            }
            actions={{
              open,
              ...(mayModerate()
                ? {
                    moderate: async (sessionId: string, status: ModerationStatus) => {
                      await conn.request({ case: "moderate", value: { sessionId, status } }, "done");
                    },
                  }
                : {}),
            }}
          />
        </div>
        <Show when={!props.kiosk}>
          <div class="wall-right">
            <Trends trends={trends()} range={range()} setRange={changeRange} />
            <FindByCode token={props.token} open={open} />
            <Show when={maySetModeration()}>
              <ModerationSettings
                settings={settings()}
                businessId={props.businessId}
                save={async (autoApproveAbove, redactedPhrases) => {
                  await conn.request(
                    { case: "setModerationSettings", value: { settings: { autoApproveAbove, redactedPhrases } } },
                    "done",
                  );
                }}
              />
            </Show>
          </div>
        </Show>
      </main>
      <Show when={selected()}>
        <DrillDown
          card={state.cards[selected()!]}
          conversation={conversation()}
          failed={conversationFailed()}
          close={() => setSelected(undefined)}
        />
      </Show>
    </div>
  );
}

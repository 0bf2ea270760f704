// The requests of the dashboard protocol, one connection at a time and in
// order: Hello (who), Subscribe (what, answered with a snapshot), the
// drill-down, tiles, trends and the feedback a filter asks for (from the
// history), moderation, and the admins' monitor and actions. Every request
// that names a business, store or session is checked against the caller's
// token: what is not theirs answers NOT_FOUND, as if it did not exist; admin
// actions PERMISSION_DENIED.
// Each connection has a request rate and a cap on unanswered requests
// (WallClient): beyond either, a request is answered RATE_LIMITED at once.
// The token is checked again while the connection stays (recheckTokens).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ParleyError, toParleyError } from "@parley/proto/errors";
import {
  dtlsFromProto,
  dtlsToProto,
  iceCandidateToProto,
  iceParametersToProto,
  rtpCapabilitiesFromProto,
  rtpCapabilitiesToProto,
  rtpParametersToProto,
} from "@parley/proto/mediasoup";
import { isTimeZone } from "@parley/proto/viewer-day";
import {
  type ClientMessage,
  ClientMessageSchema,
  type Conversation,
  ConversationSchema,
  type FeedbackFilter,
  FeedbackListSchema,
  FeedbackStatus,
  type Response,
  Role,
  ScoreBand,
  SentimentBand,
  ServerMessageSchema,
  SnapshotSchema,
  type Subscribe,
} from "@parley/proto/wall";
import { ErrorSchema } from "@parley/proto/ws";
import { databaseUnavailable, isRetryableDbError } from "@parley/records";
import type { Logger } from "pino";
import type { DashboardCaller, DashboardTokenVerifier } from "../auth/userToken.ts";
import { clip, LogThrottle } from "../edge/LogThrottle.ts";
import type { StoreDirectory } from "../stores/StoreDirectory.ts";
import type { AlertEngine } from "./alerts/AlertEngine.ts";
import { alertsSince } from "./alerts/alertsSince.ts";
import { decodeFeedbackCursor, encodeFeedbackCursor } from "./history/feedbackCursor.ts";
import type { DayWindow, HistoryFilter, HistoryPage, HistoryScope, WallHistory } from "./history/WallHistory.ts";
import type { LiveConversations } from "./LiveConversations.ts";
import { wallClientsClosed, wallRequestsRefused } from "./metrics.ts";
import { type ModerationView, moderationChanges } from "./moderation/moderationChanges.ts";
import type { WallModeration } from "./moderation/WallModeration.ts";
import type { AdminActions } from "./monitor/AdminActions.ts";
import { inScope, resolveScope, topicsOfScope, type WallScope, wallTopic } from "./scope.ts";
import {
  MAX_REQUESTS_IN_FLIGHT,
  REFUSALS_BEFORE_CLOSE,
  REQUESTS_PER_SECOND,
  type WallClient,
  WallCloseCode,
} from "./WallClient.ts";

type Result = Response["result"];

export interface WallServices {
  nodeId: string;
  verifier: DashboardTokenVerifier;
  stores: StoreDirectory;
  history: WallHistory;
  live: LiveConversations;
  /** Sends frames waiting for the hub's flush window (before a snapshot). */
  flush: () => void;
  moderation: WallModeration;
  alerts: AlertEngine;
  admin: AdminActions | undefined;
  maxMessageBytes: number;
  logger: Logger;
}

const ROLE = { owner: Role.OWNER, staff: Role.STAFF, admin: Role.ADMIN } as const;

/** Everything a caller may see, whatever it subscribed to (drill-down, moderation). */
const callerScope = (caller: DashboardCaller): WallScope => ({
  businessId: caller.businessId,
  storeCodes: caller.storeCodes ? new Set(caller.storeCodes) : undefined,
  publicScreen: false,
});

const actorOf = (caller: DashboardCaller) => ({ userId: caller.userId, role: caller.role });

const historyScope = (scope: WallScope): HistoryScope => ({
  businessId: scope.businessId,
  storeCodes: scope.storeCodes,
});

const SCORE_BAND: Record<ScoreBand, HistoryFilter["score"]> = {
  [ScoreBand.UNSPECIFIED]: undefined,
  [ScoreBand.LOW]: "low",
  [ScoreBand.MID]: "mid",
  [ScoreBand.HIGH]: "high",
};
const SENTIMENT_BAND: Record<SentimentBand, HistoryFilter["sentiment"]> = {
  [SentimentBand.UNSPECIFIED]: undefined,
  [SentimentBand.NEGATIVE]: "negative",
  [SentimentBand.NEUTRAL]: "neutral",
  [SentimentBand.POSITIVE]: "positive",
};
const STATUS: Record<FeedbackStatus, HistoryFilter["status"]> = {
  [FeedbackStatus.UNSPECIFIED]: undefined,
  [FeedbackStatus.ENDED]: "ended",
  [FeedbackStatus.FLAGGED]: "flagged",
};
/** The unfiltered history (a snapshot's recent conversations and their older pages). */
const NO_FILTER: HistoryFilter = {};
/** A public screen's snapshot: no finished conversations (it shows the feedback approved for it instead). */
const NO_HISTORY: HistoryPage = { feedback: [], next: undefined };
/** Topics and languages are short words; anything longer is not a filter of the wall's. */
const MAX_FILTER_TEXT = 64;

/** The history's filter of a GetFeedback (the stores are its scope's part). */
function historyFilter(asked: FeedbackFilter | undefined): HistoryFilter {
  if (!asked) return {};
  if (asked.topic.length > MAX_FILTER_TEXT || asked.language.length > MAX_FILTER_TEXT)
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "topic and language are at most 64 characters");
  const filter: HistoryFilter = {};
  if (asked.startedSinceMs > 0n) filter.startedSinceMs = Number(asked.startedSinceMs);
  const score = SCORE_BAND[asked.scoreBand];
  const sentiment = SENTIMENT_BAND[asked.sentiment];
  const status = STATUS[asked.status];
  if (score) filter.score = score;
  if (sentiment) filter.sentiment = sentiment;
  if (status) filter.status = status;
  if (asked.topic) filter.topic = asked.topic;
  if (asked.language) filter.language = asked.language;
  return filter;
}

/** Offsets beyond any zone's (UTC−12 to UTC+14), with a margin. */
const MAX_UTC_OFFSET_MINUTES = 18 * 60;

/** "Today" for a request's viewer: their IANA zone when the dashboard sends one, else their UTC offset. */
function viewerDay(asked: { utcOffsetMinutes: number; timeZone: string }): DayWindow {
  if (Math.abs(asked.utcOffsetMinutes) > MAX_UTC_OFFSET_MINUTES)
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `utc_offset_minutes out of range: ${asked.utcOffsetMinutes}`);
  if (asked.timeZone && !isTimeZone(asked.timeZone))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `unknown time zone: ${asked.timeZone.slice(0, 64)}`);
  const day: DayWindow = { nowMs: Date.now(), utcOffsetMinutes: asked.utcOffsetMinutes };
  if (asked.timeZone) day.timeZone = asked.timeZone;
  return day;
}

export class WallRequests {
  readonly #s: WallServices;
  /** Refusal lines of every dashboard of this node together: a flood of bad requests is no flood of logs. */
  readonly #logs = new LogThrottle();

  constructor(services: WallServices) {
    this.#s = services;
  }

  onMessage(client: WallClient, data: ArrayBuffer, isBinary: boolean): void {
    if (client.closed) return;
    // Every frame counts against the rate, a bad one too, before any work on it.
    if (!client.requestRate.take()) {
      this.#onTooFast(client, data, isBinary);
      return;
    }
    client.refusedInARow = 0;
    let message: ClientMessage;
    try {
      if (!isBinary) throw new ParleyError(ErrorCode.BAD_FRAME, "text frames are not accepted; send binary protobuf");
      if (data.byteLength > this.#s.maxMessageBytes)
        throw new ParleyError(
          ErrorCode.TOO_LARGE,
          `frame of ${data.byteLength} bytes exceeds ${this.#s.maxMessageBytes}`,
        );
      try {
        message = fromBinary(ClientMessageSchema, new Uint8Array(data)); // copies: uWS reuses `data`
      } catch {
        throw new ParleyError(ErrorCode.BAD_FRAME, "frame is not a valid parley.wall.v1.ClientMessage");
      }
    } catch (error) {
      this.#reply(client, 0, this.#error(client, error));
      // Not signed in yet: nothing it sends can be served, and a socket that opens with garbage is not a dashboard.
      if (!client.caller) client.close(WallCloseCode.UNAUTHENTICATED, "say hello with a valid token first");
      return;
    }
    // Over the in-flight cap: refused at once, by its own request id (a
    // dashboard waits for every answer), and the socket stays.
    const refusal = this.#admit(client);
    if (refusal) {
      // Not logged one by one: a flood would become one of log lines (the metric counts them).
      this.#reply(client, message.requestId, errorResult(refusal));
      return;
    }
    client.inFlight++;
    client.queue = client.queue.then(async () => {
      try {
        if (client.closed) return;
        let result: Result | "replied";
        try {
          result = await this.#handle(client, message);
        } catch (error) {
          result = this.#error(client, error);
        }
        if (result !== "replied") this.#reply(client, message.requestId, result);
        // A connection that failed to say who it is gets its answer, then is closed.
        if (!client.caller && result !== "replied" && result.case === "error")
          client.close(WallCloseCode.UNAUTHENTICATED, "not signed in");
      } finally {
        client.inFlight--;
      }
    });
  }

  /**
   * Checks again the token of every signed-in client: one that no longer
   * passes (it expired while the socket stayed open, or the owner withdrew it
   * by removing the staff member or changing their stores) is closed, so a
   * token cannot keep streaming live transcripts past its expiry or withdrawal.
   */
  async recheckTokens(clients: Iterable<WallClient>): Promise<void> {
    const checks: Promise<void>[] = [];
    for (const client of clients) {
      const token = client.token;
      if (client.closed || !client.caller || !token) continue;
      checks.push(
        Promise.resolve()
          .then(() => this.#s.verifier.verify(token))
          .then(
            (caller) => {
              if (caller || client.closed) return;
              this.#s.logger.info({ client: client.id }, "dashboard token expired or withdrawn: closing");
              client.close(
                WallCloseCode.UNAUTHENTICATED,
                "signed out (token expired or access changed): sign in again",
              );
              wallClientsClosed.inc({ reason: "signed_out" });
            },
            // A verifier that fails (not one that refuses) keeps the client: a hiccup must not sign everyone out.
            (err: unknown) => this.#s.logger.error({ err, client: client.id }, "dashboard token re-check failed"),
          ),
      );
    }
    await Promise.all(checks);
  }

  /**
   * A frame beyond the rate: answered RATE_LIMITED by its request id when it
   * has one (a dashboard waits for every answer), unlogged (the metric counts
   * them); a run of REFUSALS_BEFORE_CLOSE closes the socket.
   */
  #onTooFast(client: WallClient, data: ArrayBuffer, isBinary: boolean): void {
    wallRequestsRefused.inc({ reason: "rate" });
    if (++client.refusedInARow >= REFUSALS_BEFORE_CLOSE) {
      if (this.#logs.admit().ok)
        this.#s.logger.warn(
          { client: client.id, refused: client.refusedInARow },
          "closing a dashboard that kept flooding",
        );
      client.close(WallCloseCode.RATE_LIMITED, "request rate exceeded");
      wallClientsClosed.inc({ reason: "flooding" });
      return;
    }
    let requestId = 0;
    if (isBinary && data.byteLength <= this.#s.maxMessageBytes) {
      try {
        requestId = fromBinary(ClientMessageSchema, new Uint8Array(data)).requestId;
      } catch {
        // a bad frame: answered without an id, as bad frames are
      }
    }
    this.#reply(
      client,
      requestId,
      errorResult(
        new ParleyError(ErrorCode.RATE_LIMITED, "too many requests: slow down", {
          retryable: true,
          retryAfterMs: client.requestRate.msUntilNext(),
        }),
      ),
    );
  }

  /** Why this request cannot be taken now (too many unanswered); undefined: take it. */
  #admit(client: WallClient): ParleyError | undefined {
    if (client.inFlight >= MAX_REQUESTS_IN_FLIGHT) {
      wallRequestsRefused.inc({ reason: "in_flight" });
      return new ParleyError(
        ErrorCode.RATE_LIMITED,
        `too many requests in flight (${MAX_REQUESTS_IN_FLIGHT}): wait for answers`,
        // No clock says when one finishes: a hint of one request's time at the sustained rate.
        { retryable: true, retryAfterMs: Math.ceil(1000 / REQUESTS_PER_SECOND) },
      );
    }
    return undefined;
  }

  async #handle(client: WallClient, message: ClientMessage): Promise<Result | "replied"> {
    const kind = message.kind;
    if (kind.case === undefined) throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown or empty message");
    if (kind.case === "hello") return this.#hello(client, kind.value.token);
    if (kind.case === "ping") return { case: "pong", value: { $typeName: "parley.ws.v1.Pong" } };
    const caller = client.caller;
    if (!caller) throw new ParleyError(ErrorCode.UNAUTHENTICATED, `hello before ${kind.case}`);
    switch (kind.case) {
      case "subscribe":
        await this.#subscribe(client, caller, message.requestId, kind.value);
        return "replied";
      case "getConversation":
        return { case: "conversation", value: await this.#conversation(caller, kind.value.sessionId) };
      case "getTiles": {
        const scope = await this.#narrowed(client, caller, kind.value.storeCodes);
        const tiles = await this.#s.history.tiles(historyScope(scope), viewerDay(kind.value));
        tiles.liveNow = this.#s.live.liveCount(scope);
        return { case: "tiles", value: tiles };
      }
      case "getFeedback": {
        // The caller's scope first (the subscription's, narrowed to the filter's stores), then the filter.
        const asked = kind.value;
        const scope = await this.#narrowed(client, caller, asked.filter?.storeCodes ?? []);
        const filter = historyFilter(asked.filter);
        const within = historyScope(scope);
        // A later page goes on from where its cursor says, in this caller's scope: never the cursor's.
        const after = asked.cursor ? decodeFeedbackCursor(asked.cursor, within, filter) : undefined;
        const page = await this.#s.history.page(within, Math.min(500, asked.limit || 50), filter, after);
        const decisions = await this.#s.moderation.decisions(page.feedback.map((f) => f.sessionId));
        return {
          case: "feedbackList",
          value: create(FeedbackListSchema, {
            feedback: page.feedback,
            moderation: decisions.map((d) => ({ sessionId: d.sessionId, status: d.status, automatic: d.automatic })),
            nextCursor: page.next ? encodeFeedbackCursor(page.next, within, filter) : "",
          }),
        };
      }
      case "getTrends": {
        const scope = await this.#narrowed(client, caller, kind.value.storeCodes);
        const trends = await this.#s.history.trends(historyScope(scope), kind.value.range, viewerDay(kind.value));
        return { case: "trends", value: trends };
      }
      case "moderate": {
        this.#mayChange(caller);
        const conversation = await this.#conversation(caller, kind.value.sessionId);
        await this.#s.moderation.decide(conversation.feedback!, kind.value.status, actorOf(caller));
        return done;
      }
      case "setModerationSettings": {
        this.#mayChange(caller);
        const businessId = caller.businessId ?? client.scope?.businessId;
        if (!businessId)
          throw new ParleyError(
            ErrorCode.INVALID_ARGUMENT,
            "admins: subscribe to one business before changing its settings",
          );
        await this.#s.moderation.setSettings(businessId, kind.value.settings, actorOf(caller));
        return done;
      }
      case "watchMonitor": {
        this.#adminOnly(caller);
        const others = client.topics.filter((t) => t !== wallTopic.monitor);
        client.setTopics(kind.value.on ? [...others, wallTopic.monitor] : others);
        return done;
      }
      case "endSession":
        await this.#admin(caller).endSession(client, kind.value.sessionId);
        return done;
      case "getListenCapabilities":
        return {
          case: "routerRtpCapabilities",
          value: rtpCapabilitiesToProto(this.#admin(caller).routerCapabilities(kind.value.sessionId)),
        };
      case "listenIn": {
        const listener = await this.#admin(caller).listen(
          client,
          kind.value.sessionId,
          rtpCapabilitiesFromProto(kind.value.rtpCapabilities),
        );
        const { transport, consumer } = listener;
        return {
          case: "listenerCreated",
          value: {
            $typeName: "parley.wall.v1.ListenerCreated",
            transport: {
              $typeName: "parley.ws.v1.TransportCreated",
              id: transport.id,
              iceParameters: iceParametersToProto(transport.iceParameters),
              iceCandidates: transport.iceCandidates.map(iceCandidateToProto),
              dtlsParameters: dtlsToProto(transport.dtlsParameters),
            },
            consumer: {
              $typeName: "parley.ws.v1.Consumed",
              consumerId: consumer.id,
              producerId: consumer.producerId,
              kind: consumer.kind,
              rtpParameters: rtpParametersToProto(consumer.rtpParameters),
            },
          },
        };
      }
      case "connectListener":
        await this.#admin(caller).connect(client, kind.value.transportId, dtlsFromProto(kind.value.dtlsParameters));
        return done;
      case "resumeListener":
        await this.#admin(caller).resume(client, kind.value.consumerId);
        return done;
      case "stopListening":
        this.#admin(caller).stop(client);
        return done;
      default:
        throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown message");
    }
  }

  async #hello(client: WallClient, token: string): Promise<Result> {
    if (client.caller) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "already said hello");
    const caller = token ? await this.#s.verifier.verify(token) : undefined;
    if (!caller) throw new ParleyError(ErrorCode.UNAUTHENTICATED, "invalid or expired token: sign in again");
    client.caller = caller;
    client.token = token;
    this.#s.logger.info({ client: client.id, role: caller.role, businessId: caller.businessId }, "dashboard connected");
    return {
      case: "welcome",
      value: {
        $typeName: "parley.wall.v1.Welcome",
        role: ROLE[caller.role],
        businessId: caller.businessId ?? "",
        storeCodes: [...(caller.storeCodes ?? [])],
        nodeId: this.#s.nodeId,
      },
    };
  }

  /**
   * Resolves the scope and gathers the history first (asynchronously); then,
   * synchronously, takes the live snapshot, sends it and joins the scope's
   * topics: no live event can fall between the snapshot and the updates. The
   * moderation state, read before the join, is read again after it (see
   * moderationChanges).
   */
  async #subscribe(client: WallClient, caller: DashboardCaller, requestId: number, request: Subscribe): Promise<void> {
    const { stores, history, moderation, alerts, live } = this.#s;
    const scope = await resolveScope(
      caller,
      { businessId: request.businessId, storeCodes: request.storeCodes, publicScreen: request.publicScreen },
      stores,
    );
    const limit = Math.min(500, request.recentLimit || 50);
    const within = historyScope(scope);
    // The viewer's today's alerts: the kept ones are read now; this node's own are merged in when
    // the snapshot is taken (below). The recent conversations are the first page of the unfiltered
    // history: its cursor asks for the next.
    const alertsSinceMs = alertsSince(request, Date.now());
    const [{ feedback: recent, next: olderRecent }, storeList, keptAlerts] = await Promise.all([
      scope.publicScreen ? Promise.resolve(NO_HISTORY) : history.page(within, limit, NO_FILTER),
      stores.list(scope.businessId),
      alerts.kept(scope, alertsSinceMs),
    ]);
    const readModeration = async (): Promise<ModerationView> => {
      const [decisions, settings, publicFeedback] = await Promise.all([
        moderation.decisions(recent.map((f) => f.sessionId)),
        scope.businessId ? moderation.settings(scope.businessId) : Promise.resolve(undefined),
        scope.publicScreen ? moderation.publicFeedback(scope.businessId!, scope.storeCodes) : Promise.resolve([]),
      ]);
      return { decisions, settings, publicFeedback };
    };
    const snapshotModeration = await readModeration();
    const { decisions, settings, publicFeedback } = snapshotModeration;
    if (client.closed) return;
    // Frames still waiting for the window carry events the snapshot already holds: out with them first.
    this.#s.flush();
    const snapshot = create(SnapshotSchema, {
      live: live.snapshot(scope),
      recent,
      moderation: decisions.map((d) => ({ sessionId: d.sessionId, status: d.status, automatic: d.automatic })),
      ...(settings ? { moderationSettings: settings } : {}),
      stores: storeList
        .filter((s) => !scope.storeCodes || scope.storeCodes.has(s.code))
        .map((s) => ({ code: s.code, name: s.name, businessId: s.businessId })),
      serverTimeMs: BigInt(Date.now()),
      publicFeedback,
      alerts: scope.publicScreen ? [] : alerts.recent(scope, alertsSinceMs, keptAlerts),
      historySource: history.source,
      recentNextCursor: olderRecent ? encodeFeedbackCursor(olderRecent, within, NO_FILTER) : "",
    });
    this.#reply(client, requestId, { case: "snapshot", value: snapshot });
    client.scope = scope;
    const watching = client.topics.includes(wallTopic.monitor) ? [wallTopic.monitor] : [];
    client.setTopics([...topicsOfScope(scope), ...watching]);
    // What changed while the snapshot's moderation state was read came before the join: read again.
    if (!scope.businessId) return; // an admin's whole-deployment wall: no moderation of its own
    try {
      const now = await readModeration();
      if (client.closed) return;
      for (const frame of moderationChanges(scope.businessId, snapshotModeration, now)) client.send(frame);
    } catch (err) {
      this.#s.logger.warn({ err, client: client.id }, "moderation read again after a snapshot failed");
    }
  }

  async #conversation(caller: DashboardCaller, sessionId: string): Promise<Conversation> {
    const conversation = (await this.#s.history.conversation(sessionId)) ?? this.#fromLive(sessionId);
    const f = conversation?.feedback;
    if (!conversation || !f || !inScope(callerScope(caller), f.businessId, f.storeCode))
      throw new ParleyError(ErrorCode.NOT_FOUND, "no such conversation");
    return conversation;
  }

  /** A live conversation the history does not know (one that began before a records-backed history saw it). */
  #fromLive(sessionId: string): Conversation | undefined {
    const c = this.#s.live.get(sessionId);
    if (!c) return undefined;
    const envelopes = c.envelopes();
    return create(ConversationSchema, {
      feedback: { sessionId, businessId: c.businessId, storeCode: c.storeCode, startedAtMs: BigInt(c.startedAtMs) },
      live: !c.ended,
      segments: envelopes.flatMap((e) =>
        e.event?.kind.case === "transcript" && e.event.kind.value.isFinal ? [e.event.kind.value] : [],
      ),
      aiTurns: envelopes.flatMap((e) => (e.event?.kind.case === "aiTurn" ? [e.event.kind.value] : [])),
      scoreTimeline: c.score ? [{ atMs: BigInt(c.lastEventAtMs), score: c.score }] : [],
    });
  }

  /** The client's scope (or all the caller may see), narrowed to some stores. */
  async #narrowed(client: WallClient, caller: DashboardCaller, storeCodes: readonly string[]): Promise<WallScope> {
    const base = client.scope && !client.scope.publicScreen ? client.scope : callerScope(caller);
    if (storeCodes.length === 0) return base;
    return resolveScope(caller, { businessId: base.businessId ?? "", storeCodes, publicScreen: false }, this.#s.stores);
  }

  #mayChange(caller: DashboardCaller): void {
    if (caller.role === "staff") throw new ParleyError(ErrorCode.PERMISSION_DENIED, "staff may only read");
  }

  #adminOnly(caller: DashboardCaller): void {
    if (caller.role !== "admin") throw new ParleyError(ErrorCode.PERMISSION_DENIED, "admins only");
  }

  #admin(caller: DashboardCaller): AdminActions {
    this.#adminOnly(caller);
    if (!this.#s.admin) throw new ParleyError(ErrorCode.UNAVAILABLE, "admin actions are not available on this node");
    return this.#s.admin;
  }

  #error(client: WallClient, error: unknown): Result {
    // The database away (a restart, a failover) is no bug of ours: the dashboard may retry, as the REST API's 503 says.
    const e = isRetryableDbError(error)
      ? databaseUnavailable("the records database is not answering; try again in a moment", error)
      : toParleyError(error);
    if (e.code === ErrorCode.INTERNAL)
      this.#s.logger.error({ err: error, client: client.id }, "dashboard request failed");
    else {
      // Refusals echo what a client sent: clipped, and within the node's budget of such lines.
      const allowed = this.#logs.admit();
      if (allowed.ok) {
        const suppressed = allowed.suppressed > 0 ? { suppressed: allowed.suppressed } : {};
        if (e.code === ErrorCode.UNAVAILABLE)
          this.#s.logger.warn({ client: client.id, err: error, ...suppressed }, "dashboard request not served");
        else
          this.#s.logger.info(
            { client: client.id, code: e.label, reason: clip(e.message), ...suppressed },
            "dashboard request refused",
          );
      }
    }
    return errorResult(e);
  }

  /**
   * A reply that cannot be encoded (a value out of its field's range) is answered INTERNAL
   * instead: a throw here would reject the client's queue, so that no later request of the
   * connection were answered, and surface as an unhandled rejection that ends the process.
   */
  #reply(client: WallClient, requestId: number, result: Result): void {
    let frame: Uint8Array;
    try {
      frame = encodeResponse(requestId, result);
    } catch (err) {
      this.#s.logger.error({ err, client: client.id, requestId, result: result.case }, "reply could not be encoded");
      frame = encodeResponse(requestId, errorResult(new ParleyError(ErrorCode.INTERNAL, "internal error")));
    }
    client.send(frame);
  }
}

function encodeResponse(requestId: number, result: Result): Uint8Array {
  return toBinary(
    ServerMessageSchema,
    create(ServerMessageSchema, { kind: { case: "response", value: { requestId, result } } }),
  );
}

const errorResult = (e: ParleyError): Result => ({
  case: "error",
  value: create(ErrorSchema, {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    retryAfterMs: e.retryAfterMs,
  }),
});

const done: Result = { case: "done", value: { $typeName: "parley.wall.v1.Done" } };

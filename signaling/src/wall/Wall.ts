// The business wall and admin monitor of one node, assembled: the hub (a
// subscriber of the live-event bus), the history, moderation, alerts, the
// monitor and the admins' actions, behind the dashboard protocol. What is
// durable comes through interfaces (token verifier, history, moderation
// store, alert recipients, fraud rules, business names) that the
// composition root binds to the records package.
import type { AsrWorkerPool, Scoring } from "@parley/inference-bridge";
import type { MediaWorkerPool } from "@parley/media";
import type { Logger } from "pino";
import type { DashboardTokenVerifier } from "../auth/userToken.ts";
import type { LiveBus } from "../live/LiveBus.ts";
import type { SessionRegistry } from "../session/SessionRegistry.ts";
import type { StoreDirectory } from "../stores/StoreDirectory.ts";
import { AlertEngine, type AlertEngineOptions } from "./alerts/AlertEngine.ts";
import type { AlertStore } from "./alerts/AlertStore.ts";
import { serverFrame } from "./frames.ts";
import type { WallHistory } from "./history/WallHistory.ts";
import type { ModerationStore } from "./moderation/ModerationStore.ts";
import { WallModeration } from "./moderation/WallModeration.ts";
import { AdminActions } from "./monitor/AdminActions.ts";
import { MonitorSampler } from "./monitor/MonitorSampler.ts";
import { topicsOfItem } from "./scope.ts";
import type { DashboardSocket, WallClient, WallClientLimits } from "./WallClient.ts";
import { WallHub, type WallHubOptions } from "./WallHub.ts";
import { WallRequests } from "./WallRequests.ts";

export interface WallOptions {
  nodeId: string;
  bus: LiveBus;
  /** uWS app.publish. */
  publish: (topic: string, frame: Uint8Array) => void;
  logger: Logger;
  verifier: DashboardTokenVerifier;
  stores: StoreDirectory;
  history: WallHistory;
  moderationStore: ModerationStore;
  limits: Omit<WallClientLimits, "lowWaterBytes">;
  /** The hub's flush window (WallHub). */
  flushIntervalMs?: number;
  /** Conversations of nodes that died are shown as ended (WallHub). */
  orphans?: WallHubOptions["orphans"];
  alerts: {
    lowScore: number;
    negativeSentiment: number;
    /** Mailer and recipients; across nodes also the shared claims and limit (AlertEngine). */
    email?: AlertEngineOptions["email"];
    /** The fraud-severity rules that flagged a conversation whose reward was withheld. */
    fraudRules?: (sessionId: string) => Promise<string[]>;
    /** Where raised alerts are kept (records): snapshots after a restart, and on every node, show them. */
    store?: AlertStore;
  };
  /** Business names for the monitor. */
  businessNames?: (businessIds: readonly string[]) => Promise<Map<string, string>>;
  maxMessageBytes: number;
  /** This node's machinery, for the admin monitor and actions. */
  node?: {
    sessions: SessionRegistry;
    mediaPool: MediaWorkerPool;
    asrPool: AsrWorkerPool;
    scoring: Scoring;
    llmLimits: { maxConcurrent: number; maxWaiting: number };
    /** SIGTERM: the node takes no new sessions (the admin monitor shows it). */
    draining?: () => boolean;
    /** MAINTENANCE_MODE (the admin monitor shows it). */
    maintenance?: boolean;
  };
}

/**
 * How often the tokens of open dashboards are checked again: a token that
 * expired is closed within this time. Each check is one HMAC per dashboard.
 */
const TOKEN_RECHECK_MS = 5_000;

export class Wall {
  readonly hub: WallHub;
  readonly history: WallHistory;
  readonly moderation: WallModeration;
  readonly alerts: AlertEngine;
  readonly monitor: MonitorSampler | undefined;
  readonly #requests: WallRequests;
  readonly #tokenRecheck: NodeJS.Timeout;
  #rechecking = false;
  #closed = false;

  constructor(options: WallOptions) {
    const logger = options.logger;
    this.hub = new WallHub({
      bus: options.bus,
      nodeId: options.nodeId,
      publish: options.publish,
      logger,
      limits: options.limits,
      ...(options.flushIntervalMs !== undefined ? { flushIntervalMs: options.flushIntervalMs } : {}),
      ...(options.orphans ? { orphans: options.orphans } : {}),
    });
    const broadcast = (topics: readonly string[], frame: Uint8Array) => this.hub.broadcast(topics, frame);
    this.history = options.history;
    this.moderation = new WallModeration({
      bus: options.bus,
      store: options.moderationStore,
      history: options.history,
      broadcast,
      broadcastToAllNodes: (businessId, topics, frame) => this.hub.broadcastToAllNodes(businessId, topics, frame),
      logger,
    });
    this.alerts = new AlertEngine({
      bus: options.bus,
      broadcast,
      logger,
      lowScore: options.alerts.lowScore,
      negativeSentiment: options.alerts.negativeSentiment,
      ...(options.alerts.email ? { email: options.alerts.email } : {}),
      ...(options.alerts.fraudRules ? { fraudRules: options.alerts.fraudRules } : {}),
      ...(options.alerts.store ? { store: options.alerts.store } : {}),
    });
    const node = options.node;
    this.monitor = node
      ? new MonitorSampler({
          nodeId: options.nodeId,
          hub: this.hub,
          logger,
          ...node,
          ...(options.businessNames ? { businessNames: options.businessNames } : {}),
        })
      : undefined;
    this.#requests = new WallRequests({
      nodeId: options.nodeId,
      verifier: options.verifier,
      stores: options.stores,
      history: options.history,
      live: this.hub.live,
      flush: () => this.hub.flush(),
      moderation: this.moderation,
      alerts: this.alerts,
      admin: node ? new AdminActions({ sessions: node.sessions, live: this.hub.live, logger }) : undefined,
      maxMessageBytes: options.maxMessageBytes,
      logger,
    });
    this.#tokenRecheck = setInterval(() => this.#recheckTokens(), TOKEN_RECHECK_MS).unref();
  }

  connect(socket: DashboardSocket): WallClient {
    return this.hub.connect(socket);
  }

  onMessage(client: WallClient, data: ArrayBuffer, isBinary: boolean): void {
    this.#requests.onMessage(client, data, isBinary);
  }

  onDrain(client: WallClient): void {
    client.onDrain();
  }

  disconnect(client: WallClient): void {
    this.hub.disconnect(client);
  }

  /**
   * A customer deleted their data (records tells the node that served the
   * request): every node's wall forgets its live copy, so no drill-down can
   * open it from there; the business's dashboards drop its card, and public
   * screens showing it take it down.
   */
  customerDeleted(deleted: { sessionId: string; businessId: string; storeCode: string }): void {
    const { sessionId, businessId, storeCode } = deleted;
    this.hub.broadcastToAllNodes(
      businessId,
      topicsOfItem(businessId, storeCode),
      serverFrame({ kind: { case: "conversationDeleted", value: { sessionId } } }),
      sessionId,
    );
    this.moderation.withdraw(deleted);
  }

  /** One re-check at a time: a slow verifier must not stack them up. */
  #recheckTokens(): void {
    if (this.#rechecking) return;
    this.#rechecking = true;
    void this.#requests.recheckTokens([...this.hub.allClients()]).finally(() => {
      this.#rechecking = false;
    });
  }

  /** Resolves once the work the wall started on its own (auto-approvals, alerts being kept) has finished. */
  async settled(): Promise<void> {
    await Promise.all([this.moderation.settled(), this.alerts.saved()]);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tokenRecheck);
    this.monitor?.close();
    this.alerts.close();
    this.moderation.close();
    this.history.close();
    this.hub.close();
  }
}

// What an admin may do to a live session of this node: end it (the customer's
// page is told it was ended by an admin: EndReason.ENDED_BY_ADMIN), and
// listen in through the SFU (the admin's browser consumes the customer's
// microphone producer on a receive transport of the session's router). A
// session of another node answers NOT_FOUND with the node's name: connect
// the monitor to that node.
import type { CustomerMedia, MediaListener } from "@parley/media";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { EndReason } from "@parley/proto/live";
import type { Logger } from "pino";
import type { Session } from "../../session/Session.ts";
import type { SessionRegistry } from "../../session/SessionRegistry.ts";
import type { LiveConversations } from "../LiveConversations.ts";
import type { WallClient } from "../WallClient.ts";

// mediasoup's own types, as the media package's signatures carry them.
type RtpCapabilities = Parameters<CustomerMedia["listen"]>[0];
type DtlsParameters = Parameters<MediaListener["connect"]>[0];

export class AdminActions {
  readonly #sessions: SessionRegistry;
  readonly #live: LiveConversations;
  readonly #logger: Logger;
  /** One listener per admin connection at a time. */
  readonly #listeners = new WeakMap<WallClient, MediaListener>();

  constructor(options: { sessions: SessionRegistry; live: LiveConversations; logger: Logger }) {
    this.#sessions = options.sessions;
    this.#live = options.live;
    this.#logger = options.logger;
  }

  async endSession(admin: WallClient, sessionId: string): Promise<void> {
    const session = this.#local(sessionId);
    session.logger.warn({ admin: admin.caller?.userId }, "session ended by an admin");
    await this.#sessions.end(session, EndReason.ENDED_BY_ADMIN, true);
  }

  routerCapabilities(sessionId: string): RtpCapabilities {
    return this.#media(this.#local(sessionId)).rtpCapabilities;
  }

  async listen(admin: WallClient, sessionId: string, rtpCapabilities: RtpCapabilities): Promise<MediaListener> {
    const session = this.#local(sessionId);
    this.stop(admin);
    const listener = await this.#media(session).listen(rtpCapabilities);
    if (admin.closed) {
      listener.close();
      throw new ParleyError(ErrorCode.NOT_FOUND, "connection closed");
    }
    this.#listeners.set(admin, listener);
    const dispose = () => listener.close();
    admin.disposers.add(dispose);
    listener.once("close", () => {
      admin.disposers.delete(dispose);
      if (this.#listeners.get(admin) === listener) this.#listeners.delete(admin);
    });
    session.logger.warn({ admin: admin.caller?.userId }, "an admin listens in");
    return listener;
  }

  async connect(admin: WallClient, transportId: string, dtls: DtlsParameters): Promise<void> {
    const listener = this.#listener(admin);
    if (listener.transport.id !== transportId) throw new ParleyError(ErrorCode.NOT_FOUND, "unknown transport");
    await listener.connect(dtls);
  }

  async resume(admin: WallClient, consumerId: string): Promise<void> {
    const listener = this.#listener(admin);
    if (listener.consumer.id !== consumerId) throw new ParleyError(ErrorCode.NOT_FOUND, "unknown consumer");
    await listener.resume();
  }

  stop(admin: WallClient): void {
    this.#listeners.get(admin)?.close();
    this.#listeners.delete(admin);
  }

  #listener(admin: WallClient): MediaListener {
    const listener = this.#listeners.get(admin);
    if (!listener || listener.closed) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "listen in first");
    return listener;
  }

  #local(sessionId: string): Session {
    const session = this.#sessions.get(sessionId);
    if (session && !session.ended) return session;
    const elsewhere = this.#live.get(sessionId);
    if (elsewhere && !elsewhere.ended)
      throw new ParleyError(ErrorCode.NOT_FOUND, `session runs on node ${elsewhere.nodeId}: use its monitor`);
    this.#logger.debug({ sessionId }, "admin action on an unknown session");
    throw new ParleyError(ErrorCode.NOT_FOUND, "no such live session");
  }

  #media(session: Session) {
    const media = session.media;
    if (!media || media.closed) throw new ParleyError(ErrorCode.NOT_FOUND, "session has no media");
    return media;
  }
}

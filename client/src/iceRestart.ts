// A transport whose network went away under it (Wi-Fi given up for mobile
// data, a VPN coming up) is connected again by an ICE restart: the node hands
// out new ICE credentials, the browser gathers candidates on its new network
// and connects with them. The transport, its producer or consumer and the
// conversation stay; only when restarts do not bring it back is the media set
// up from scratch.
import type { ConnectionState, IceParameters } from "mediasoup-client/types";

/** The part of a mediasoup-client Transport this needs. */
export interface RestartableTransport {
  readonly id: string;
  readonly closed: boolean;
  readonly connectionState: ConnectionState;
  on(event: "connectionstatechange", listener: (state: ConnectionState) => void): unknown;
  restartIce(options: { iceParameters: IceParameters }): Promise<void>;
}

export interface IceRestartOptions {
  /** Asks the node for new ICE credentials for the transport. */
  newIceParameters: (transportId: string) => Promise<IceParameters>;
  /** Restarts did not bring the transport back, or the node refused one: set the media up again. */
  onGiveUp: (error: unknown) => void;
  /**
   * How long "disconnected" may last before a restart. Browsers report it after a few seconds
   * without an answer and often recover by themselves (a short radio fade); "failed" restarts at once.
   */
  disconnectedGraceMs?: number;
  /** How long a restart may take to connect before it is tried again (no state change may come). */
  settleMs?: number;
  /** Restarts in a row that may end without the transport connecting again. */
  maxRestarts?: number;
}

const DISCONNECTED_GRACE_MS = 2_000;
const SETTLE_MS = 6_000;
const MAX_RESTARTS = 3;

/** Watches `transport` for as long as it lives. */
export function restartIceWhenLost(transport: RestartableTransport, options: IceRestartOptions): void {
  const graceMs = options.disconnectedGraceMs ?? DISCONNECTED_GRACE_MS;
  const settleMs = options.settleMs ?? SETTLE_MS;
  const maxRestarts = options.maxRestarts ?? MAX_RESTARTS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let restarting = false;
  let restartsInARow = 0;
  let gaveUp = false;

  // Not connected when its grace or a restart's settle time ran out: "connecting" that long has failed too.
  const lost = () => transport.connectionState !== "connected" && transport.connectionState !== "closed";

  const giveUp = (error: unknown) => {
    if (gaveUp || transport.closed) return;
    gaveUp = true;
    options.onGiveUp(error);
  };

  const later = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => void restart(), ms);
  };

  const restart = async () => {
    if (restarting || gaveUp || transport.closed || !lost()) return;
    if (restartsInARow >= maxRestarts) return giveUp(new Error(`ICE did not reconnect after ${maxRestarts} restarts`));
    restarting = true;
    restartsInARow++;
    try {
      const iceParameters = await options.newIceParameters(transport.id);
      if (transport.closed) return;
      await transport.restartIce({ iceParameters });
      // Still not connected once it had time to: again (a state change sooner decides instead).
      later(settleMs);
    } catch (error) {
      giveUp(error);
    } finally {
      restarting = false;
    }
  };

  transport.on("connectionstatechange", (state) => {
    if (state === "connected" || state === "closed") {
      clearTimeout(timer);
      restartsInARow = 0;
    } else if (state === "failed") {
      clearTimeout(timer);
      void restart();
    } else if (state === "disconnected") later(graceMs);
    // "connecting" (a restart under way) keeps the settle timer: it decides if nothing follows.
  });
}

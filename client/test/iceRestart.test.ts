// When the app restarts ICE on a transport, and when it gives up on it: a
// transport double that reports states as mediasoup-client's does, and fake
// timers. (The restart itself, with Chrome and mediasoup, is in
// signaling/test/client-errors.browser.test.ts.)
import type { ConnectionState, IceParameters } from "mediasoup-client/types";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type RestartableTransport, restartIceWhenLost } from "../src/iceRestart.ts";

const FRESH: IceParameters = { usernameFragment: "new", password: "new-password", iceLite: true };

/** Reports states like a mediasoup-client Transport; records the restarts it was given. */
class TransportDouble implements RestartableTransport {
  readonly id = "t1";
  closed = false;
  connectionState: ConnectionState = "connected";
  readonly restartedWith: IceParameters[] = [];
  #listener: ((state: ConnectionState) => void) | undefined;

  on(_event: "connectionstatechange", listener: (state: ConnectionState) => void): void {
    this.#listener = listener;
  }

  async restartIce({ iceParameters }: { iceParameters: IceParameters }): Promise<void> {
    this.restartedWith.push(iceParameters);
  }

  report(state: ConnectionState): void {
    this.connectionState = state;
    this.#listener?.(state);
  }
}

let transport: TransportDouble;
let asked: string[];
let gaveUp: unknown[];

const answerFresh = async (id: string) => {
  asked.push(id);
  return FRESH;
};

function watch(newIceParameters = answerFresh) {
  restartIceWhenLost(transport, {
    newIceParameters,
    onGiveUp: (error) => gaveUp.push(error),
    disconnectedGraceMs: 2_000,
    settleMs: 6_000,
    maxRestarts: 3,
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  transport = new TransportDouble();
  asked = [];
  gaveUp = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe("restartIceWhenLost", () => {
  it("restarts a failed transport at once, with the node's new credentials", async () => {
    watch();
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toEqual(["t1"]);
    expect(transport.restartedWith).toEqual([FRESH]);
  });

  it("gives a disconnected transport its grace to recover by itself", async () => {
    watch();
    transport.report("disconnected");
    await vi.advanceTimersByTimeAsync(1_900);
    transport.report("connected"); // a short radio fade
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toEqual([]);

    transport.report("disconnected");
    await vi.advanceTimersByTimeAsync(2_000);
    expect(asked).toEqual(["t1"]);
  });

  it("asks for one restart at a time, however many states come meanwhile", async () => {
    let answer: (p: IceParameters) => void = () => {};
    watch(async (id) => {
      asked.push(id);
      return new Promise((resolve) => {
        answer = resolve;
      });
    });
    transport.report("failed");
    transport.report("disconnected");
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(3_000);
    expect(asked).toEqual(["t1"]);
    answer(FRESH);
    await vi.advanceTimersByTimeAsync(0);
    expect(transport.restartedWith).toEqual([FRESH]);
  });

  it("tries again when a restart does not connect, and gives up after the last", async () => {
    watch();
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(0);
    transport.report("connecting"); // the restart under way: no state follows, it never connects
    await vi.advanceTimersByTimeAsync(6_000);
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toHaveLength(3);
    expect(gaveUp).toEqual([]);
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toHaveLength(3);
    expect(gaveUp).toHaveLength(1);
    // Once given up on, the transport is the app's to replace: no more restarts or calls.
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toHaveLength(3);
    expect(gaveUp).toHaveLength(1);
  });

  it("counts restarts afresh once the transport connected again", async () => {
    watch();
    for (let round = 0; round < 5; round++) {
      transport.report("failed");
      await vi.advanceTimersByTimeAsync(0);
      transport.report("connected");
    }
    expect(asked).toHaveLength(5);
    expect(gaveUp).toEqual([]);
  });

  it("gives up when the node refuses the restart (the transport is gone)", async () => {
    const refusal = new Error("unknown transport t1");
    watch(async () => {
      throw refusal;
    });
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(0);
    expect(gaveUp).toEqual([refusal]);
  });

  it("leaves a closed transport alone", async () => {
    watch();
    transport.closed = true;
    transport.report("failed");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toEqual([]);
    expect(gaveUp).toEqual([]);
  });
});

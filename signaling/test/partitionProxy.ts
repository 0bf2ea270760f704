// A silent network partition between a client and a real Redis, for tests.
import net from "node:net";

/**
 * A TCP proxy to Redis that partitions silently: blackHole() stops forwarding
 * the bytes of the connections open now, both ways, and closes nothing (a
 * network that drops packets, with no reset: the FIN of a socket ended then
 * goes unanswered too). Connections made later pass as before.
 */
export class PartitionProxy {
  readonly #server: net.Server;
  readonly #links = new Set<{ sockets: [net.Socket, net.Socket]; cut: boolean }>();

  static async start(redisPort: number): Promise<PartitionProxy> {
    const proxy = new PartitionProxy(redisPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  private constructor(redisPort: number) {
    this.#server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ port: redisPort, host: "127.0.0.1", allowHalfOpen: true });
      const link = { sockets: [client, upstream] as [net.Socket, net.Socket], cut: false };
      this.#links.add(link);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        from.on("data", (chunk) => {
          if (!link.cut) to.write(chunk);
        });
        from.on("error", () => {}); // a client may reset its side of a dead link
        from.on("close", () => {
          if (!link.cut) to.destroy();
        });
      }
    });
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  blackHole(): void {
    for (const link of this.#links) link.cut = true;
  }

  async close(): Promise<void> {
    for (const { sockets } of this.#links) for (const socket of sockets) socket.destroy();
    this.#links.clear();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

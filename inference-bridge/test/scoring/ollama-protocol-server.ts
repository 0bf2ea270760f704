// TEST DOUBLE: a local HTTP server speaking Ollama's wire protocol (the
// Ollama server cannot be installed here). It answers /api/tags and a streamed
// /api/chat (NDJSON: content chunks with done:false, then a done:true line with
// durations and token counts), and can misbehave on request: error statuses,
// a stalled stream, a socket destroyed mid-stream, an error line, a stream
// that ends without done, a flood of bytes without a newline, a raw body.
// Requests (and how far each flood got) are recorded for assertions.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ChatBehaviour =
  /** A normal streamed reply of `content`, cut into chunks; after `delayMs` (a slow model) when given. */
  | {
      kind: "reply";
      content: string;
      chunkChars?: number;
      promptTokens?: number;
      completionTokens?: number;
      delayMs?: number;
    }
  /** An error status with Ollama's JSON error body ({"error": "..."}). */
  | { kind: "status"; status: number; error: string }
  /** Headers and the first chunk, then silence until the client gives up. */
  | { kind: "stall"; content?: string }
  /** A few chunks, then the socket is destroyed. */
  | { kind: "break"; content: string; chunks: number }
  /** A chunk, then an {"error": "..."} line as Ollama sends when a runner fails mid-stream. */
  | { kind: "error_line"; error: string }
  /** All chunks but no done line: the stream just ends. */
  | { kind: "no_done"; content: string }
  /** `bytes` of "x" without a newline (with an error `status`: as its text body), as fast as the client reads. */
  | { kind: "flood"; bytes: number; status?: number }
  /** `body` as the stream, byte for byte, then the end. */
  | { kind: "raw"; body: string };

/** How far a flood got: `closedEarly` when the client hung up before it was all written. */
export interface FloodRecord {
  bytes: number;
  written: number;
  finished: boolean;
  closedEarly: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

export class OllamaProtocolServer {
  readonly requests: RecordedRequest[] = [];
  readonly floods: FloodRecord[] = [];
  readonly #server: Server;
  readonly #models: string[];
  #behaviours: ChatBehaviour[] = [];
  #port = 0;

  private constructor(models: string[]) {
    this.#models = models;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(options: { models?: string[] } = {}): Promise<OllamaProtocolServer> {
    const server = new OllamaProtocolServer(options.models ?? ["qwen2:0.5b"]);
    await new Promise<void>((resolve) => server.#server.listen(0, "127.0.0.1", resolve));
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  /** Base URL, as OLLAMA_HOST. */
  get host(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === "/api/chat");
  }

  /** How the next /api/chat requests are answered, in order; the last one repeats. */
  behave(...behaviours: ChatBehaviour[]): void {
    this.#behaviours = behaviours;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    const path = (req.url ?? "").split("?")[0]!;
    this.requests.push({ method: req.method ?? "", path, body });
    if (req.method === "GET" && path === "/api/tags") this.#json(res, 200, { models: this.#models.map(modelEntry) });
    else if (req.method === "POST" && path === "/api/chat") this.#chat(body ?? {}, res);
    else this.#json(res, 404, { error: "404 page not found" });
  }

  #chat(body: Record<string, unknown>, res: ServerResponse): void {
    const model = String(body.model ?? "");
    if (!this.#models.includes(model)) {
      this.#json(res, 404, { error: `model "${model}" not found, try pulling it first` });
      return;
    }
    const behaviour =
      (this.#behaviours.length > 1 ? this.#behaviours.shift() : this.#behaviours[0]) ??
      ({ kind: "reply", content: "{}" } as ChatBehaviour);
    if (behaviour.kind === "status") {
      this.#json(res, behaviour.status, { error: behaviour.error });
      return;
    }
    if (behaviour.kind === "flood") {
      this.#flood(behaviour, res);
      return;
    }
    if (behaviour.kind === "reply" && behaviour.delayMs) {
      // A slow model: nothing at all until it is done thinking (the client may give up first).
      const timer = setTimeout(() => this.#stream(model, behaviour, res), behaviour.delayMs);
      res.once("close", () => clearTimeout(timer));
      return;
    }
    this.#stream(model, behaviour, res);
  }

  /** Writes only as fast as the client reads (backpressure), so `written` shows how much it took. */
  #flood(behaviour: Extract<ChatBehaviour, { kind: "flood" }>, res: ServerResponse): void {
    const record: FloodRecord = { bytes: behaviour.bytes, written: 0, finished: false, closedEarly: false };
    this.floods.push(record);
    res.once("close", () => {
      record.closedEarly = !record.finished;
    });
    res.writeHead(behaviour.status ?? 200, {
      "Content-Type": behaviour.status ? "text/plain; charset=utf-8" : "application/x-ndjson",
    });
    const piece = Buffer.alloc(64 * 1024, "x");
    const pump = () => {
      while (record.written < record.bytes) {
        if (res.destroyed) return;
        const size = Math.min(piece.length, record.bytes - record.written);
        record.written += size;
        if (!res.write(piece.subarray(0, size))) {
          res.once("drain", pump);
          return;
        }
      }
      record.finished = true;
      res.end();
    };
    pump();
  }

  #stream(model: string, behaviour: Exclude<ChatBehaviour, { kind: "status" | "flood" }>, res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/x-ndjson" });
    const line = (obj: object) => res.write(`${JSON.stringify(obj)}\n`);
    const chunk = (content: string) =>
      line({ model, created_at: new Date().toISOString(), message: { role: "assistant", content }, done: false });
    const chunks = (content: string, size = 8) => {
      const out: string[] = [];
      for (let i = 0; i < content.length; i += size) out.push(content.slice(i, i + size));
      return out;
    };
    switch (behaviour.kind) {
      case "reply":
      case "no_done": {
        for (const c of chunks(behaviour.content, behaviour.kind === "reply" ? behaviour.chunkChars : 8)) chunk(c);
        if (behaviour.kind === "reply") {
          line({
            model,
            created_at: new Date().toISOString(),
            message: { role: "assistant", content: "" },
            done_reason: "stop",
            done: true,
            total_duration: 412_000_000,
            load_duration: 12_000_000,
            prompt_eval_count: behaviour.promptTokens ?? 120,
            prompt_eval_duration: 90_000_000,
            eval_count: behaviour.completionTokens ?? 40,
            eval_duration: 300_000_000,
          });
        }
        res.end();
        return;
      }
      case "stall":
        res.flushHeaders();
        if (behaviour.content) chunk(behaviour.content);
        return; // never ends: close() destroys it
      case "break": {
        for (const c of chunks(behaviour.content).slice(0, behaviour.chunks)) chunk(c);
        // Let the chunks leave, then cut the connection without a terminating chunk.
        setTimeout(() => res.socket?.destroy(), 10);
        return;
      }
      case "error_line":
        chunk('{"score":');
        line({ error: behaviour.error });
        res.end();
        return;
      case "raw":
        res.end(behaviour.body);
        return;
    }
  }

  #json(res: ServerResponse, status: number, body: object): void {
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  }
}

const modelEntry = (name: string) => ({
  name,
  model: name,
  modified_at: "2024-06-01T10:00:00.000Z",
  size: 352_164_041,
  digest: "8de95da68dc485c0889c205384c24642f83ca18d089559c977ffc6a3972a71a8",
  details: {
    parent_model: "",
    format: "gguf",
    family: "qwen2",
    families: ["qwen2"],
    parameter_size: "494.03M",
    quantization_level: "Q4_0",
  },
});

/** A port nothing listens on: connecting to it is refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

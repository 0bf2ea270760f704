// TEST DOUBLE of Stripe's API — not Stripe. Stripe cannot be reached from our
// build machines and stripe-mock is not on npm, so the real `stripe` SDK is
// pointed (host, port, protocol) at this local HTTP server, which speaks the
// parts of Stripe's REST API that Parley uses: accounts, account links,
// transfers, payouts (on a connected account via the Stripe-Account header) and
// balance. It keeps Stripe's behaviours that matter for money:
// - idempotency: the same Idempotency-Key with the same parameters replays the
//   stored response (header Idempotent-Replayed: true); with other parameters
//   it answers Stripe's 400 idempotency_error;
// - error shapes: {"error": {"type", "code", "message", "param"}} with Stripe's
//   statuses (401 bad key, 400 invalid request, 404 resource_missing,
//   balance_insufficient);
// - money: transfers move the platform's available balance to the connected
//   account, payouts take it from the connected account's balance.
// Tests drive the rest: completeOnboarding(), webhook() signs an event with
// stripe.webhooks.generateTestHeaderString like Stripe's own deliveries.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

type Json = Record<string, unknown>;

interface StoredResponse {
  paramsHash: string;
  path: string;
  status: number;
  body: string;
}

interface AccountState {
  object: Json;
  balance: number; // minor units, SEK
}

export class StripeTestDouble {
  readonly apiKey: string;
  readonly webhookSecret = `whsec_test_${randomBytes(12).toString("hex")}`;
  /** The platform's available SEK balance, in öre. */
  platformBalance: number;
  readonly accounts = new Map<string, AccountState>();
  readonly transfers: Json[] = [];
  readonly payouts: Json[] = [];
  /** Every request: method, path, idempotency key, and whether it was replayed. */
  readonly requests: { method: string; path: string; idempotencyKey: string | undefined; replayed: boolean }[] = [];
  readonly #idempotency = new Map<string, StoredResponse>();
  readonly #server: http.Server;
  readonly #stripe = new Stripe("sk_test_double_for_signing");
  #failNext: { path: string; status: number; error: Json } | undefined;
  readonly #conflicts = new Map<string, number>();
  #ids = 0;
  #closed = false;

  static async start(options: { apiKey?: string; platformBalance?: number } = {}): Promise<StripeTestDouble> {
    const double = new StripeTestDouble(
      options.apiKey ?? "sk_test_parley_double",
      options.platformBalance ?? 1_000_000,
    );
    await new Promise<void>((resolve) => double.#server.listen(0, "127.0.0.1", resolve));
    return double;
  }

  private constructor(apiKey: string, platformBalance: number) {
    this.apiKey = apiKey;
    this.platformBalance = platformBalance;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const reply = this.#handle(req, Buffer.concat(chunks).toString("utf8"));
        res.writeHead(reply.status, {
          "content-type": "application/json",
          "request-id": `req_${++this.#ids}`,
          ...(reply.replayed ? { "idempotent-replayed": "true" } : {}),
        });
        res.end(reply.body);
      });
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Options for StripePayouts / the SDK to reach this double. */
  get clientOptions() {
    return { secretKey: this.apiKey, host: "127.0.0.1", port: this.port, protocol: "http" as const };
  }

  /** The next request to `path` fails once with this status and Stripe error body. */
  failNext(path: string, status: number, error: Json): void {
    this.#failNext = { path, status, error };
  }

  /**
   * The next `times` requests to `path` answer as Stripe does while another
   * request with the same idempotency key is still running: 409, and nothing
   * saved under the key (a later request with it runs for real).
   */
  conflictNext(path: string, times: number): void {
    this.#conflicts.set(path, times);
  }

  /** What Stripe's hosted onboarding does when the customer finishes: the account can receive money. */
  completeOnboarding(accountId: string): Json {
    const account = this.accounts.get(accountId);
    if (!account) throw new Error(`no account ${accountId}`);
    Object.assign(account.object, {
      details_submitted: true,
      charges_enabled: true,
      payouts_enabled: true,
      capabilities: { transfers: "active" },
    });
    return account.object;
  }

  /** A webhook delivery as Stripe sends it: the event JSON and its Stripe-Signature header. */
  webhook(
    type: string,
    object: Json,
    options: { id?: string; account?: string; secret?: string } = {},
  ): { payload: string; signature: string; id: string } {
    const id = options.id ?? `evt_${randomBytes(12).toString("hex")}`;
    const payload = JSON.stringify({
      id,
      object: "event",
      api_version: Stripe.API_VERSION,
      created: Math.floor(Date.now() / 1000),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      ...(options.account ? { account: options.account } : {}),
      data: { object },
    });
    const signature = this.#stripe.webhooks.generateTestHeaderString({
      payload,
      secret: options.secret ?? this.webhookSecret,
    });
    return { payload, signature, id };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, body: string): { status: number; body: string; replayed?: boolean } {
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").split("?")[0]!;
    const key = header(req, "idempotency-key");
    const connected = header(req, "stripe-account");
    const auth = header(req, "authorization");
    if (auth !== `Bearer ${this.apiKey}`) {
      this.requests.push({ method, path, idempotencyKey: key, replayed: false });
      return error(401, {
        type: "invalid_request_error",
        message: `Invalid API Key provided: ${(auth ?? "").replace("Bearer ", "").slice(0, 8)}****`,
      });
    }
    if (method === "POST" && key) {
      const scope = `${connected ?? "platform"}:${key}`;
      const paramsHash = createHash("sha256").update(`${method} ${path}\n${body}`).digest("hex");
      const stored = this.#idempotency.get(scope);
      if (stored) {
        this.requests.push({ method, path, idempotencyKey: key, replayed: true });
        if (stored.paramsHash !== paramsHash)
          return error(400, {
            type: "idempotency_error",
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          });
        return { status: stored.status, body: stored.body, replayed: true };
      }
      const reply = this.#route(method, path, decodeForm(body), connected);
      // Stripe saves the result once the endpoint started executing, errors included; a request
      // that failed parameter validation is not saved.
      if (!reply.validationFailed)
        this.#idempotency.set(scope, { paramsHash, path, status: reply.status, body: reply.body });
      this.requests.push({ method, path, idempotencyKey: key, replayed: false });
      return reply;
    }
    this.requests.push({ method, path, idempotencyKey: key, replayed: false });
    return this.#route(method, path, method === "GET" ? {} : decodeForm(body), connected);
  }

  #route(
    method: string,
    path: string,
    params: Json,
    connected: string | undefined,
  ): { status: number; body: string; validationFailed?: boolean } {
    const conflicts = this.#conflicts.get(path) ?? 0;
    if (conflicts > 0) {
      this.#conflicts.set(path, conflicts - 1);
      return {
        ...error(409, {
          type: "idempotency_error",
          message:
            "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): please try again later.",
        }),
        validationFailed: true,
      };
    }
    if (this.#failNext && this.#failNext.path === path) {
      const { status, error: e } = this.#failNext;
      this.#failNext = undefined;
      return error(status, e);
    }
    const id = (prefix: string) => `${prefix}_${randomBytes(10).toString("hex")}`;
    const now = Math.floor(Date.now() / 1000);
    if (method === "POST" && path === "/v1/accounts") {
      const acct = id("acct");
      const object: Json = {
        id: acct,
        object: "account",
        type: params.type ?? "express",
        country: params.country ?? "SE",
        business_type: params.business_type ?? null,
        default_currency: "sek",
        details_submitted: false,
        charges_enabled: false,
        payouts_enabled: false,
        capabilities: { transfers: "inactive" },
        settings: params.settings ?? {},
        metadata: params.metadata ?? {},
        created: now,
      };
      this.accounts.set(acct, { object, balance: 0 });
      return ok(object);
    }
    const accountMatch = /^\/v1\/accounts\/([^/]+)$/.exec(path);
    if (method === "GET" && accountMatch) {
      const account = this.accounts.get(accountMatch[1]!);
      return account ? ok(account.object) : missing("account", accountMatch[1]!);
    }
    if (method === "POST" && path === "/v1/account_links") {
      const account = this.accounts.get(String(params.account));
      if (!account) return missing("account", String(params.account));
      for (const field of ["refresh_url", "return_url", "type"])
        if (!params[field]) return invalid(`Missing required param: ${field}.`, field);
      return ok({
        object: "account_link",
        created: now,
        expires_at: now + 300,
        url: `http://127.0.0.1:${this.port}/setup/e/${account.object.id}/${randomBytes(6).toString("hex")}`,
      });
    }
    if (method === "POST" && path === "/v1/transfers") {
      const amount = Number(params.amount);
      if (!Number.isInteger(amount) || amount <= 0) return invalid("Invalid positive integer", "amount");
      if (params.currency !== "sek") return invalid(`Invalid currency: ${String(params.currency)}.`, "currency");
      const destination = this.accounts.get(String(params.destination));
      if (!destination) return invalid(`No such destination: '${String(params.destination)}'`, "destination");
      if ((destination.object.capabilities as Json).transfers !== "active")
        return invalid(
          "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
          "destination",
        );
      if (amount > this.platformBalance)
        return error(400, {
          type: "invalid_request_error",
          code: "balance_insufficient",
          message: "You have insufficient available funds in your Stripe account.",
        });
      this.platformBalance -= amount;
      destination.balance += amount;
      const transfer = {
        id: id("tr"),
        object: "transfer",
        amount,
        amount_reversed: 0,
        currency: "sek",
        destination: destination.object.id,
        transfer_group: params.transfer_group ?? null,
        metadata: params.metadata ?? {},
        reversed: false,
        created: now,
      };
      this.transfers.push(transfer);
      return ok(transfer);
    }
    if (method === "POST" && path === "/v1/payouts") {
      const account = connected ? this.accounts.get(connected) : undefined;
      if (!account) return invalid("Payouts in this test double are made on a connected account (Stripe-Account).");
      const amount = Number(params.amount);
      if (amount > account.balance)
        return error(400, {
          type: "invalid_request_error",
          code: "balance_insufficient",
          message: "You have insufficient funds in your Stripe account for this transfer.",
        });
      account.balance -= amount;
      const payout = {
        id: id("po"),
        object: "payout",
        amount,
        currency: String(params.currency),
        status: "pending",
        method: "standard",
        arrival_date: now + 86_400,
        failure_code: null,
        metadata: params.metadata ?? {},
        created: now,
      };
      this.payouts.push(payout);
      return ok(payout);
    }
    if (method === "GET" && path === "/v1/balance") {
      const amount = connected ? (this.accounts.get(connected)?.balance ?? 0) : this.platformBalance;
      return ok({
        object: "balance",
        available: [{ amount, currency: "sek", source_types: { card: amount } }],
        pending: [{ amount: 0, currency: "sek" }],
        livemode: false,
      });
    }
    return error(404, {
      type: "invalid_request_error",
      message: `Unrecognized request URL (${method}: ${path}). This test double speaks only the parts of Stripe's API that Parley uses.`,
    });
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const ok = (body: Json) => ({ status: 200, body: JSON.stringify(body) });
const error = (status: number, e: Json) => ({ status, body: JSON.stringify({ error: e }) });
const invalid = (message: string, param?: string) => ({
  ...error(400, { type: "invalid_request_error", message, ...(param ? { param } : {}) }),
  validationFailed: true,
});
const missing = (resource: string, id: string) =>
  error(404, {
    type: "invalid_request_error",
    code: "resource_missing",
    message: `No such ${resource}: '${id}'`,
    param: resource === "account" ? "account" : "id",
  });

/** application/x-www-form-urlencoded with Stripe's nested keys (a[b][c]=v) into objects. */
export function decodeForm(body: string): Json {
  const out: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const path = rawKey.replace(/\]/g, "").split("[");
    let node = out;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Json;
    });
  }
  return out;
}

// TEST DOUBLE of Stripe's API — not Stripe. Stripe cannot be reached from our
// build machines and stripe-mock is not on npm, so the real `stripe` SDK is
// pointed (host, port, protocol) at this local HTTP server, which speaks the
// parts of Stripe's REST API that Parley uses: accounts, account links,
// transfers (create, list), payouts (create, list, retrieve; on a connected
// account via the Stripe-Account header) and balance. It keeps Stripe's
// behaviours that matter for money:
// - idempotency: the same Idempotency-Key with the same parameters replays the
//   stored response (header Idempotent-Replayed: true); with other parameters
//   it answers Stripe's 400 idempotency_error; keys are pruned after 24 h
//   (expireIdempotencyKeys());
// - the API key is checked before the idempotency key: a 401 (or a 403, a 429,
//   see rejectNext) says nothing about an earlier request with that key;
// - error shapes: {"error": {"type", "code", "message", "param"}} with Stripe's
//   statuses (401 bad key, 400 invalid request, 404 resource_missing,
//   balance_insufficient);
// - lists: {"object": "list", "data", "has_more"}, newest first, with limit and
//   starting_after, and the filters Stripe offers (transfers: transfer_group,
//   destination; payouts: status);
// - money: transfers move the platform's available balance to the connected
//   account, payouts take it from the connected account's balance, and a failed
//   or canceled payout puts it back.
// Tests drive the rest: completeOnboarding(), settlePayout(), webhook() signs an
// event with stripe.webhooks.generateTestHeaderString like Stripe's own deliveries.
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
  /** Each payout's connected account (a payout object names its bank account, not its Stripe account). */
  readonly #payoutAccount = new Map<string, string>();
  /** Every request: method, path, idempotency key, and whether it was replayed. */
  readonly requests: { method: string; path: string; idempotencyKey: string | undefined; replayed: boolean }[] = [];
  readonly #idempotency = new Map<string, StoredResponse>();
  readonly #server: http.Server;
  readonly #stripe = new Stripe("sk_test_double_for_signing");
  #failNext: { path: string; status: number; error: Json } | undefined;
  #rejectNext: { method: string; path: string; status: number; error: Json } | undefined;
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
   * The next `method` request to `path` is turned away as Stripe does before it looks at the
   * idempotency key (a rolled or restricted API key: 401, 403; too many requests: 429), or refuses
   * it there (400 idempotency_error): the key's stored result, if any, is neither replayed nor changed.
   */
  rejectNext(method: string, path: string, status: number, error: Json): void {
    this.#rejectNext = { method, path, status, error };
  }

  /** A day passed: Stripe prunes idempotency keys after 24 hours, and a key is new again. */
  expireIdempotencyKeys(): void {
    this.#idempotency.clear();
  }

  /**
   * The bank's answer to a payout, as Stripe later reports it (payout.paid / payout.failed): a
   * failed payout's money goes back to the account's balance, and Stripe errors the bank account
   * and lists the account as restricted, bank details needed, until the customer gives new ones
   * (support.stripe.com/questions/managing-connect-payout-failures); completeOnboarding() is that.
   */
  settlePayout(payoutId: string, outcome: "paid" | { failureCode: string }): Json {
    const payout = this.payouts.find((p) => p.id === payoutId);
    if (!payout) throw new Error(`no payout ${payoutId}`);
    if (outcome === "paid") return Object.assign(payout, { status: "paid" });
    const account = this.accounts.get(this.#payoutAccount.get(payoutId)!)!;
    account.balance += Number(payout.amount);
    Object.assign(account.object, {
      payouts_enabled: false,
      requirements: { currently_due: ["external_account"], past_due: [], disabled_reason: null },
    });
    return Object.assign(payout, { status: "failed", failure_code: outcome.failureCode });
  }

  /**
   * The next `times` POST requests to `path` answer as Stripe does while another
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
      requirements: { currently_due: [], past_due: [], disabled_reason: null },
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
    const [path = "/", query = ""] = (req.url ?? "/").split("?");
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
    if (this.#rejectNext?.path === path && this.#rejectNext.method === method) {
      const { status, error: e } = this.#rejectNext;
      this.#rejectNext = undefined;
      this.requests.push({ method, path, idempotencyKey: key, replayed: false });
      return error(status, e);
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
    return this.#route(method, path, decodeForm(method === "GET" ? query : body), connected);
  }

  #route(
    method: string,
    path: string,
    params: Json,
    connected: string | undefined,
  ): { status: number; body: string; validationFailed?: boolean } {
    const conflicts = method === "POST" ? (this.#conflicts.get(path) ?? 0) : 0;
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
        requirements: { currently_due: ["external_account"], past_due: [], disabled_reason: null },
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
    if (method === "GET" && path === "/v1/transfers") {
      const found = this.transfers.filter(
        (t) =>
          (params.transfer_group === undefined || t.transfer_group === params.transfer_group) &&
          (params.destination === undefined || t.destination === params.destination),
      );
      return list(path, found, params);
    }
    if (method === "POST" && path === "/v1/payouts") {
      const account = connected ? this.accounts.get(connected) : undefined;
      if (!account) return invalid("Payouts in this test double are made on a connected account (Stripe-Account).");
      if (account.object.payouts_enabled !== true)
        return error(400, {
          type: "invalid_request_error",
          code: "payouts_not_allowed",
          message: "Payouts have been disabled on the connected account.",
        });
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
      this.#payoutAccount.set(payout.id, connected!);
      return ok(payout);
    }
    if (method === "GET" && path === "/v1/payouts") {
      const mine = this.payouts.filter(
        (p) =>
          this.#payoutAccount.get(String(p.id)) === (connected ?? "platform") &&
          (params.status === undefined || p.status === params.status),
      );
      return list(path, mine, params);
    }
    const payoutMatch = /^\/v1\/payouts\/([^/]+)$/.exec(path);
    if (method === "GET" && payoutMatch) {
      const payout = this.payouts.find((p) => p.id === payoutMatch[1]);
      const onThisAccount = payout && this.#payoutAccount.get(payoutMatch[1]!) === (connected ?? "platform");
      return onThisAccount ? ok(payout) : missing("payout", payoutMatch[1]!);
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

/** A page of a list, newest first as Stripe lists: `limit` (1–100, default 10) after `starting_after`. */
function list(url: string, objects: Json[], params: Json) {
  const newestFirst = [...objects].reverse();
  const after = params.starting_after === undefined ? -1 : newestFirst.findIndex((o) => o.id === params.starting_after);
  if (params.starting_after !== undefined && after < 0)
    return missing(url.includes("payouts") ? "payout" : "transfer", String(params.starting_after));
  const limit = params.limit === undefined ? 10 : Number(params.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    return invalid("Invalid integer: limit must be between 1 and 100.", "limit");
  const rest = newestFirst.slice(after + 1);
  return ok({ object: "list", url, has_more: rest.length > limit, data: rest.slice(0, limit) });
}

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

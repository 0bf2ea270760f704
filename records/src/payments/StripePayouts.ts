// Paying rewards through Stripe Connect (see the package README for why this
// flow). A reward moves through these states; each move is one guarded UPDATE
// (`where status in (...)`), so replays and late webhooks never move it back:
//
//   claimable ─claim─▶ onboarding ─account ready (account.updated, a claim, the sweep)─▶ transfer_pending
//     ─transfers.create─▶ transferred ─payouts.create─▶ payout_pending ─payout.paid─▶ paid
//   payout_pending | paid ─payout.failed─▶ transferred (under the next payout key; paid out again
//     once the account can take it: account.updated, a claim, the sweep)
//   transferred | payout_pending | paid ─transfer.reversed─▶ reversed
// (payout_failed: where older code left failed payouts; migration 0014 moved them back.)
//
// Every call that moves money carries a deterministic idempotency key
// (reward:<id>:transfer:<n>, reward:<id>:payout:<n>; the account:
// reward:<id>:account, then reward:<id>:account:<n>): a retry after a crash
// between Stripe's answer and our UPDATE gets the same transfer back instead of
// a second one. <n> counts attempts that Stripe ran and refused for what they
// asked (insufficient balance, a refused destination, an account Stripe would
// not open: see refusedForItsContent): Stripe replays a key's stored result,
// errors included, so after such an answer only a new key can succeed; it is
// raised in the same UPDATE that records the error. After anything else (a
// network error, a crash, a 5xx, an answer given before Stripe looked at the
// key such as a rolled API key's 401) an earlier request's outcome is unknown
// and the key stays. A retry (the sweep's), and any attempt past :0, first asks
// Stripe whether this reward's money already moved (transfers.list by the
// session's transfer group, payouts.list on the customer's account, matched on
// metadata.reward_id) and adopts what it finds: that covers a key Stripe no
// longer keeps (after 24 h) and keys older code moved on.
import type { Logger } from "pino";
import type { Sql, TransactionSql } from "postgres";
import Stripe from "stripe";
import { isRetryableDbError } from "../db/errors.ts";
import { UUID } from "../db/uuid.ts";
import {
  payoutAmountSekTotal,
  payoutPendingOldestAgeSeconds,
  payoutTransitionsTotal,
  stripeRequestsTotal,
  stripeWebhooksTotal,
} from "../metrics.ts";

export interface StripeOptions {
  /** STRIPE_SECRET_KEY */
  secretKey: string;
  /**
   * STRIPE_WEBHOOK_SECRET: one signing secret, or several separated by commas.
   * Stripe signs each endpoint with its own: account.updated and payout.* of
   * connected accounts come to an endpoint for connected accounts,
   * transfer.reversed to the platform's, and both may point here.
   */
  webhookSecret: string;
  /** Where the customer returns after onboarding (the app's claim page); {session} is replaced. */
  returnUrl: string;
  /** Test doubles only: where Stripe's API is. */
  host?: string;
  port?: number;
  protocol?: "http" | "https";
}

/** Test hooks: run between Stripe's answer and our database write, to simulate a crash there. */
export interface PayoutFaults {
  afterTransfer?: (rewardId: string) => void;
  afterPayout?: (rewardId: string) => void;
}

/** A reward and its conversation: every log line about a reward names the session. */
interface RewardRef {
  rewardId: string;
  sessionId: string;
}

interface RewardRow {
  id: string;
  session_id: string;
  amount_minor: number;
  currency: string;
  /** The business's country: its customers' connected accounts are opened there. */
  country: string;
  status: string;
  stripe_account_id: string | null;
  transfer_id: string | null;
  account_attempt: number;
  transfer_attempt: number;
  payout_attempt: number;
}

export type ClaimResult =
  /** onboarding: the account is not set up yet; account_update: its bank details must be given again. */
  | { status: "onboarding" | "account_update"; onboardingUrl: string }
  | { status: "paying" | "paid" | "in_progress"; state: string };

export class PayoutError extends Error {
  override readonly name = "PayoutError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class StripePayouts {
  readonly stripe: Stripe;
  readonly #options: StripeOptions;
  readonly #sql: Sql;
  readonly #logger: Logger;
  readonly #faults: PayoutFaults;

  constructor(sql: Sql, logger: Logger, options: StripeOptions, faults: PayoutFaults = {}) {
    this.#sql = sql;
    this.#logger = logger;
    this.#options = options;
    this.#faults = faults;
    this.stripe = new Stripe(options.secretKey, {
      maxNetworkRetries: 2,
      timeout: 20_000,
      ...(options.host ? { host: options.host } : {}),
      ...(options.port ? { port: options.port } : {}),
      ...(options.protocol ? { protocol: options.protocol } : {}),
    });
  }

  /**
   * The customer claims a held reward: a connected account is created once
   * (Express: Stripe hosts identity checks and bank details) and an onboarding
   * link returned; when the account is ready already, the money moves now.
   */
  async claim(rewardId: string): Promise<ClaimResult> {
    const reward = await this.#reward(rewardId);
    if (!reward) throw new PayoutError(404, "no such reward");
    if (reward.status === "transferred") return this.#claimPayout(reward);
    if (!["claimable", "onboarding"].includes(reward.status)) {
      if (reward.status === "paid") return { status: "paid", state: reward.status };
      if (["none", "withheld", "reversed"].includes(reward.status))
        throw new PayoutError(409, `nothing to claim (${reward.status})`);
      return { status: "in_progress", state: reward.status };
    }
    let accountId = reward.stripe_account_id;
    if (!accountId) {
      accountId = (await this.#createAccount(reward)).id;
      await this.#sql`
        update rewards set stripe_account_id = ${accountId}, status = 'onboarding', updated_at = now()
        where id = ${reward.id} and status in ('claimable', 'onboarding') and stripe_account_id is null`;
      payoutTransitionsTotal.inc({ state: "onboarding" });
    }
    const account = await this.#call("accounts.retrieve", () => this.stripe.accounts.retrieve(accountId));
    if (accountReady(account)) {
      await this.accountReady(accountId);
      return { status: "paying", state: "transfer_pending" };
    }
    return { status: "onboarding", onboardingUrl: await this.#accountLink(reward, accountId) };
  }

  /**
   * A reward in the customer's account whose payout has not gone (its last one failed, or Stripe
   * refused it): paid out now if the account can take it (the route then calls pay()), else the
   * customer is sent to give their bank details again.
   */
  async #claimPayout(reward: RewardRow): Promise<ClaimResult> {
    if (await this.#accountCanReceivePayouts(reward)) return { status: "paying", state: reward.status };
    return { status: "account_update", onboardingUrl: await this.#accountLink(reward, reward.stripe_account_id!) };
  }

  /**
   * Stripe's hosted form for what the account still lacks, returning to the claim page. Express
   * accounts take account_onboarding links for that also once onboarded (a bank account a failed
   * payout errored is due again); Stripe refuses account_update links for them.
   */
  async #accountLink(reward: RewardRow, accountId: string): Promise<string> {
    const returnUrl = this.#options.returnUrl.replace("{session}", encodeURIComponent(reward.session_id));
    const link = await this.#call("accountLinks.create", () =>
      this.stripe.accountLinks.create({
        account: accountId,
        type: "account_onboarding",
        refresh_url: returnUrl,
        return_url: returnUrl,
      }),
    );
    return link.url;
  }

  /** The customer's connected account, under the key of the reward's current account attempt. */
  async #createAccount(reward: RewardRow): Promise<Stripe.Account> {
    // Attempt 0 keeps the key used before attempts were counted: an account created under it is found again.
    const attempt = reward.account_attempt ? `:${reward.account_attempt}` : "";
    try {
      return await this.#call("accounts.create", () =>
        this.stripe.accounts.create(
          {
            type: "express",
            // Fixed at creation, and it decides the currencies the account is paid out in.
            country: reward.country,
            business_type: "individual",
            capabilities: { transfers: { requested: true } },
            // Manual payouts: one payout per reward, so payout.paid / payout.failed name their reward.
            settings: { payouts: { schedule: { interval: "manual" } } },
            metadata: { reward_id: reward.id },
          },
          { idempotencyKey: `reward:${reward.id}:account${attempt}` },
        ),
      );
    } catch (error) {
      // Stripe would replay this refusal to every claim for 24 h, even once its cause is fixed. Only
      // from the attempt this claim used (as in pay()): a replayed older refusal does not move it on.
      if (error instanceof Stripe.errors.StripeError && refusedForItsContent(error))
        await this.#sql`
          update rewards set account_attempt = account_attempt + 1
          where id = ${reward.id} and stripe_account_id is null and account_attempt = ${reward.account_attempt}`;
      throw error;
    }
  }

  /** The connected account can receive money: its rewards waiting on onboarding move on. */
  async accountReady(accountId: string, tx: Sql | TransactionSql = this.#sql): Promise<RewardRef[]> {
    const moved = await tx<{ id: string; session_id: string }[]>`
      update rewards set status = 'transfer_pending', updated_at = now()
      where stripe_account_id = ${accountId} and status = 'onboarding'
      returning id, session_id`;
    if (moved.length) payoutTransitionsTotal.inc({ state: "transfer_pending" }, moved.length);
    return moved.map((r) => ({ rewardId: r.id, sessionId: r.session_id }));
  }

  /**
   * Moves one reward's money as far as it can go now: transfer, then payout. `retry`: an earlier
   * call may have reached Stripe (the sweep's retries), so Stripe is asked first whether the money
   * already moved. A payout is asked about also when the reward came in `transferred`, and either
   * step whenever its key is past :0.
   */
  async pay(rewardId: string, options: { retry?: boolean } = {}): Promise<string> {
    let reward = await this.#reward(rewardId);
    if (!reward) throw new PayoutError(404, "no such reward");
    const logger = this.#logger.child({ sessionId: reward.session_id, rewardId });
    const payoutTriedBefore = options.retry === true || reward.status === "transferred";
    /** The create call under way: only its refusal moves its key on, never a lookup's error. */
    let sending: "transfer" | "payout" | undefined;
    try {
      if (reward.status === "transfer_pending") {
        const made =
          options.retry || reward.transfer_attempt > 0 ? await this.#transferMade(reward, logger) : undefined;
        sending = made ? undefined : "transfer";
        const transfer =
          made ??
          (await this.#call("transfers.create", () =>
            this.stripe.transfers.create(
              {
                amount: reward!.amount_minor,
                currency: reward!.currency.toLowerCase(),
                destination: reward!.stripe_account_id!,
                transfer_group: transferGroup(reward!),
                metadata: { reward_id: reward!.id },
              },
              { idempotencyKey: `reward:${reward!.id}:transfer:${reward!.transfer_attempt}` },
            ),
          ));
        sending = undefined;
        this.#faults.afterTransfer?.(reward.id);
        await this.#recordTransfer(reward, transfer);
        logger.info(
          { transferId: transfer.id, amountMinor: reward.amount_minor, foundAtStripe: made !== undefined },
          "reward transferred",
        );
        reward = (await this.#reward(rewardId))!;
      }
      if (reward.status === "transferred") {
        const made =
          payoutTriedBefore || reward.payout_attempt > 0 ? await this.#payoutMade(reward, logger) : undefined;
        // After a failed or refused payout none is tried before the account can take it: the
        // customer gives new bank details (account.updated, a claim); the sweep asks now and then.
        if (!made && reward.payout_attempt > 0 && !(await this.#accountCanReceivePayouts(reward))) {
          await this.#sql`update rewards set updated_at = now() where id = ${reward.id} and status = 'transferred'`;
          logger.info("reward payout waits for the customer's bank details");
          return reward.status;
        }
        sending = made ? undefined : "payout";
        const payout =
          made ??
          (await this.#call("payouts.create", () =>
            this.stripe.payouts.create(
              {
                amount: reward!.amount_minor,
                currency: reward!.currency.toLowerCase(),
                metadata: { reward_id: reward!.id },
              },
              {
                idempotencyKey: `reward:${reward!.id}:payout:${reward!.payout_attempt}`,
                stripeAccount: reward!.stripe_account_id!,
              },
            ),
          ));
        sending = undefined;
        this.#faults.afterPayout?.(reward.id);
        await this.#recordPayout(reward, payout);
        logger.info({ payoutId: payout.id, foundAtStripe: made !== undefined }, "reward payout created");
        reward = (await this.#reward(rewardId))!;
      }
    } catch (error) {
      if (error instanceof Stripe.errors.StripeError) {
        // Kept for the sweep to retry (insufficient balance, Stripe down) and for an admin to read.
        const message = `${error.type}${error.code ? `/${error.code}` : ""}: ${error.message}`;
        const refused = sending !== undefined && refusedForItsContent(error);
        // Only from the attempt this node used: a stale node replaying an old key's stored error
        // must not move the key on under a request that a newer key has under way.
        await this.#sql`
          update rewards set last_error = ${message}, updated_at = now(),
            transfer_attempt = transfer_attempt + ${refused && sending === "transfer" ? 1 : 0},
            payout_attempt = payout_attempt + ${refused && sending === "payout" ? 1 : 0}
          where id = ${reward.id} and status = ${reward.status}
            and transfer_attempt = ${reward.transfer_attempt} and payout_attempt = ${reward.payout_attempt}`;
        logger.warn({ err: message, refused }, "reward payment deferred");
        return reward.status;
      }
      throw error;
    }
    return reward.status;
  }

  /**
   * This reward's transfer, if Stripe made one already (under an earlier key, or one it no longer
   * keeps). A session has one reward, so its transfer group holds a transfer or two: one page.
   */
  async #transferMade(reward: RewardRow, logger: Logger): Promise<Stripe.Transfer | undefined> {
    const page = await this.#call("transfers.list", () =>
      this.stripe.transfers.list({
        transfer_group: transferGroup(reward),
        destination: reward.stripe_account_id!,
        limit: 100,
      }),
    );
    const ours = page.data.filter((t) => t.metadata?.reward_id === reward.id);
    if (ours.length > 1)
      logger.error({ transferIds: ours.map((t) => t.id) }, "reward transferred more than once: reverse the extra");
    return ours.at(-1); // the first made: Stripe lists newest first
  }

  /**
   * This reward's payout on its way or paid, if Stripe made one already. The connected account is
   * this reward's alone and paid out by us alone: one page holds its payouts.
   */
  async #payoutMade(reward: RewardRow, logger: Logger): Promise<Stripe.Payout | undefined> {
    const page = await this.#call("payouts.list", () =>
      this.stripe.payouts.list({ limit: 100 }, { stripeAccount: reward.stripe_account_id! }),
    );
    // A failed or canceled payout put its money back on the account: that is paid out again.
    const going = page.data.filter((p) => p.metadata?.reward_id === reward.id && settled(p) !== "failed");
    if (going.length > 1) logger.error({ payoutIds: going.map((p) => p.id) }, "reward paid out more than once");
    return going.at(-1);
  }

  async #accountCanReceivePayouts(reward: RewardRow): Promise<boolean> {
    const accountId = reward.stripe_account_id!;
    return canReceivePayouts(await this.#call("accounts.retrieve", () => this.stripe.accounts.retrieve(accountId)));
  }

  /** The transfer Stripe made (one found reversed already: the reward was taken back meanwhile). */
  async #recordTransfer(reward: RewardRow, transfer: Stripe.Transfer): Promise<void> {
    const state = transfer.reversed ? "reversed" : "transferred";
    const moved = await this.#sql`
      update rewards set status = ${state}, transfer_id = ${transfer.id}, last_error = null, updated_at = now()
      where id = ${reward.id} and status = 'transfer_pending' returning id`;
    if (moved.length) payoutTransitionsTotal.inc({ state });
  }

  /**
   * The payout Stripe made, with its row. The reward's updated_at becomes the payout's creation
   * (PayoutStuck measures from it), also for one found long after; one found paid already is
   * applied as its payout.paid would be.
   */
  async #recordPayout(reward: RewardRow, payout: Stripe.Payout): Promise<void> {
    const moved = await this.#sql.begin(async (tx) => {
      await tx`
        insert into payouts (id, reward_id, stripe_account_id, amount_minor, currency, status)
        values (${payout.id}, ${reward.id}, ${reward.stripe_account_id!}, ${payout.amount}, ${reward.currency}, ${payout.status})
        on conflict (id) do nothing`;
      const moved = await tx`
        update rewards set status = 'payout_pending', payout_id = ${payout.id}, last_error = null,
          updated_at = least(now(), to_timestamp(${payout.created}))
        where id = ${reward.id} and status = 'transferred' returning id`;
      if (moved.length && settled(payout) === "paid") await this.#settlePayout(tx, payout, "paid");
      return moved.length > 0;
    });
    if (moved) payoutTransitionsTotal.inc({ state: "payout_pending" });
  }

  /**
   * Retries every reward stuck between states (after a crash, an outage, a
   * low balance, a failed payout), asks Stripe about accounts whose
   * account.updated webhook is overdue (see #pollOnboarding) and about payouts
   * whose payout.paid / payout.failed is long overdue (see #reconcilePayouts),
   * then measures how long the oldest payout has waited for Stripe's webhook
   * (reward_payout_pending_oldest_age_seconds, PayoutStuck). Returns how many
   * rewards it tried to pay.
   */
  async sweep(): Promise<number> {
    // Served by the partial index rewards_in_flight (migration 0009): keep its states in step with these.
    // A payout that failed or was refused waits on the customer's bank details, which account.updated
    // and their claim bring at once: the sweep tries it again only after a grace.
    const pending = await this.#sql<{ id: string; session_id: string }[]>`
      select id, session_id from rewards
      where status = 'transfer_pending'
        or (status = 'transferred' and (payout_attempt = 0 or updated_at < now() - ${PAYOUT_RETRY_GRACE}::interval))
      order by updated_at limit 100`;
    for (const r of pending) await this.#payInSweep({ rewardId: r.id, sessionId: r.session_id }, true);
    const ready = await this.#pollOnboarding();
    for (const reward of ready) await this.#payInSweep(reward, false);
    await this.#reconcilePayouts();
    payoutPendingOldestAgeSeconds.set(await this.pendingPayoutOldestAgeSeconds());
    return pending.length + ready.length;
  }

  /** `retry`: the reward was found waiting, so an earlier attempt may have reached Stripe. */
  async #payInSweep(reward: RewardRef, retry: boolean): Promise<void> {
    try {
      await this.pay(reward.rewardId, { retry });
    } catch (error) {
      // The database away: every reward left would fail alike; the next sweep goes on.
      if (isRetryableDbError(error)) throw error;
      // Anything else is this reward's own: oldest first, it must not keep every later one waiting.
      this.#logger.error({ ...reward, err: error }, "reward payment failed; the sweep goes on");
    }
  }

  /**
   * Rewards still in onboarding whose account.updated may never come (the
   * endpoint misconfigured, Stripe gave up after its 3 days of retries) and
   * whose customer never returned to claim again: their accounts are asked
   * about, a few each sweep, oldest check first. Each is marked checked
   * (updated_at) in the same statement that picks it, before Stripe is asked,
   * so an account is asked again only after another grace whatever the answer
   * (not yet onboarded, an error, a crash), a failing one cannot hold a place
   * in every batch, and nodes sweeping together take different rewards. The
   * ids of rewards whose account turned out ready, now transfer_pending.
   */
  async #pollOnboarding(): Promise<RewardRef[]> {
    // The index range (status, updated_at) of rewards_in_flight bounds the scan; created_at bounds
    // the polling: a check moves updated_at on, so it cannot tell how long an account was polled.
    const due = await this.#sql<{ id: string; session_id: string; stripe_account_id: string }[]>`
      update rewards set updated_at = now()
      where id in (
        select id from rewards
        where status = 'onboarding' and stripe_account_id is not null
          and updated_at < now() - ${ONBOARDING_POLL_GRACE}::interval
          and updated_at > now() - ${ONBOARDING_POLL_MAX_AGE}::interval
          and created_at > now() - ${ONBOARDING_POLL_MAX_AGE}::interval
        order by updated_at limit ${ONBOARDING_POLL_BATCH}
        for update skip locked)
      returning id, session_id, stripe_account_id`;
    const ready: RewardRef[] = [];
    for (const { id, session_id: sessionId, stripe_account_id: accountId } of due) {
      try {
        const account = await this.#call("accounts.retrieve", () => this.stripe.accounts.retrieve(accountId));
        if (!accountReady(account)) continue;
        const moved = await this.accountReady(accountId);
        if (moved.length)
          this.#logger.info({ sessionId, rewardId: id, accountId }, "onboarding finished without its webhook");
        ready.push(...moved);
      } catch (error) {
        if (isRetryableDbError(error)) throw error;
        // Stripe down, the account gone: this reward's own; asked again after the grace.
        this.#logger.warn(
          { sessionId, rewardId: id, accountId, err: error },
          "onboarding check failed; the sweep goes on",
        );
      }
    }
    return ready;
  }

  /**
   * Payouts whose payout.paid or payout.failed never reached us (the endpoint
   * misconfigured, Stripe gave up after its 3 days of retries): a reward in
   * payout_pending for PAYOUT_RECONCILE_AFTER has its payout asked about, a few
   * each sweep, and what Stripe says is applied as the webhook would have been.
   * The reward's updated_at is left alone (PayoutStuck measures from it): the
   * payout row's marks the check, set in the statement that picks it, so a
   * payout still on its way is asked about again only after PAYOUT_RECHECK.
   */
  async #reconcilePayouts(): Promise<void> {
    const due = await this.#sql<{ id: string; session_id: string; reward_id: string; stripe_account_id: string }[]>`
      update payouts p set updated_at = now()
      from rewards r
      where r.id = p.reward_id and p.id in (
        select po.id from rewards rw join payouts po on po.id = rw.payout_id
        where rw.status = 'payout_pending' and rw.updated_at < now() - ${PAYOUT_RECONCILE_AFTER}::interval
          and po.updated_at < now() - ${PAYOUT_RECHECK}::interval
        order by rw.updated_at limit ${PAYOUT_RECONCILE_BATCH}
        for update of po skip locked)
      returning p.id, r.session_id, p.reward_id, p.stripe_account_id`;
    for (const row of due) {
      const ref = { sessionId: row.session_id, rewardId: row.reward_id, payoutId: row.id };
      try {
        const payout = await this.#call("payouts.retrieve", () =>
          this.stripe.payouts.retrieve(row.id, {}, { stripeAccount: row.stripe_account_id }),
        );
        const outcome = settled(payout);
        if (!outcome) continue;
        await this.#sql.begin((tx) => this.#settlePayout(tx, payout, outcome));
        this.#logger.info({ ...ref, outcome }, "payout settled without its webhook");
      } catch (error) {
        if (isRetryableDbError(error)) throw error;
        this.#logger.warn({ ...ref, err: error }, "payout check failed; the sweep goes on");
      }
    }
  }

  /**
   * Seconds since the oldest reward in payout_pending entered it (0: none).
   * Only the payout webhooks (or the sweep asking Stripe about an overdue
   * payout, and a reversal) move a reward out of that state, and nothing else
   * touches its updated_at meanwhile, so updated_at is when the payout was
   * created (#recordPayout). Transfers our sweep still retries are not counted:
   * their errors show in stripe_requests_total and last_error.
   */
  async pendingPayoutOldestAgeSeconds(): Promise<number> {
    const [row] = await this.#sql<{ age: number | null }[]>`
      select extract(epoch from now() - min(updated_at))::float8 as age
      from rewards where status = 'payout_pending'`;
    return Math.max(0, row?.age ?? 0);
  }

  /**
   * A webhook delivery: the signature is checked on the raw bytes; the event id
   * is written in the same transaction as the state change it causes, so a
   * redelivery is answered 200 and changes nothing.
   */
  /** The event, if one of the endpoints' secrets signed it; else the last secret's error. */
  #verified(rawBody: Buffer, signature: string): Stripe.Event {
    const secrets = this.#options.webhookSecret
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    let failure: unknown = new Error("no webhook secret configured");
    for (const secret of secrets) {
      try {
        return this.stripe.webhooks.constructEvent(rawBody, signature, secret);
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }

  async handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<{ status: number; body: unknown }> {
    let event: Stripe.Event;
    try {
      if (!signature) throw new Error("missing Stripe-Signature header");
      event = this.#verified(rawBody, signature);
    } catch (error) {
      stripeWebhooksTotal.inc({ type: "unknown", outcome: "rejected" });
      return { status: 400, body: { error: `webhook rejected: ${(error as Error).message}` } };
    }
    const toPay: RewardRef[] = [];
    let outcome: string;
    try {
      outcome = await this.#sql.begin(async (tx) => {
        const [fresh] = await tx`
          insert into stripe_events (id, type) values (${event.id}, ${event.type})
          on conflict (id) do nothing returning id`;
        if (!fresh) return "duplicate";
        return this.#apply(tx, event, toPay);
      });
    } catch (error) {
      if (!(error instanceof NotRecordedYet)) throw error;
      // Rolled back with the event's id: Stripe delivers it again, by then the sweep wrote the payout.
      stripeWebhooksTotal.inc({ type: event.type, outcome: "retry_later" });
      this.#logger.warn({ eventId: event.id, type: event.type, payoutId: error.payoutId }, "stripe webhook too early");
      return { status: 503, body: { error: "this payout is not recorded yet; deliver it again later" } };
    }
    stripeWebhooksTotal.inc({ type: event.type, outcome });
    this.#logger.info({ eventId: event.id, type: event.type, outcome }, "stripe webhook");
    // Money moves after the commit, outside the webhook's transaction.
    for (const reward of toPay)
      this.pay(reward.rewardId).catch((error: unknown) =>
        this.#logger.error({ ...reward, err: error }, "reward payment failed"),
      );
    return { status: 200, body: { received: true, outcome } };
  }

  async #apply(tx: TransactionSql, event: Stripe.Event, toPay: RewardRef[]): Promise<string> {
    switch (event.type) {
      case "account.updated": {
        const account = event.data.object;
        if (accountReady(account)) toPay.push(...(await this.accountReady(account.id, tx)));
        // Bank details given again after a failed payout: its reward is paid out now.
        if (canReceivePayouts(account)) {
          const waiting = await tx<{ id: string; session_id: string }[]>`
            select id, session_id from rewards where stripe_account_id = ${account.id} and status = 'transferred'`;
          toPay.push(...waiting.map((r) => ({ rewardId: r.id, sessionId: r.session_id })));
        }
        return "applied";
      }
      case "payout.paid":
      case "payout.failed": {
        const payout = event.data.object;
        if (await this.#settlePayout(tx, payout, event.type === "payout.paid" ? "paid" : "failed")) return "applied";
        if (await this.#payoutBeingRecorded(tx, payout, event.account)) throw new NotRecordedYet(payout.id);
        return "ignored"; // not one of ours
      }
      case "transfer.reversed": {
        const transfer = event.data.object;
        const moved = await tx`
          update rewards set status = 'reversed', updated_at = now()
          where transfer_id = ${transfer.id} and status in ('transferred', 'payout_pending', 'paid', 'payout_failed')
          returning id`;
        if (!moved.length) return "ignored";
        payoutTransitionsTotal.inc({ state: "reversed" });
        return "applied";
      }
      default:
        return "ignored";
    }
  }

  /**
   * Stripe's last word on a payout (payout.paid / payout.failed, or the sweep's asking): its row
   * takes it, and its reward moves. Paid: paid. Failed (canceled alike: the money is back on the
   * customer's account either way; payout.failed can follow payout.paid when the bank returns it):
   * back to `transferred` under the next payout key, since this payout's key would replay it, to be
   * paid out again once the account can take it; counted as payout_failed (PayoutFailures). Paid
   * never follows failed, and a late word on an older payout moves nothing (payout_id). False: no
   * payout of ours is recorded under this id.
   */
  async #settlePayout(tx: TransactionSql, payout: Stripe.Payout, outcome: "paid" | "failed"): Promise<boolean> {
    const [row] = await tx<{ amount_minor: number }[]>`
      update payouts set status = ${payout.status}, failure_code = ${payout.failure_code ?? null}, updated_at = now()
      where id = ${payout.id} returning amount_minor`;
    if (!row) return false;
    if (outcome === "paid") {
      const moved = await tx`
        update rewards set status = 'paid', updated_at = now()
        where payout_id = ${payout.id} and status = 'payout_pending' returning id`;
      if (moved.length) {
        payoutTransitionsTotal.inc({ state: "paid" });
        if (payout.currency === "sek") payoutAmountSekTotal.inc(row.amount_minor / 100);
      }
      return true;
    }
    const moved = await tx`
      update rewards set status = 'transferred', payout_attempt = payout_attempt + 1,
        last_error = ${payout.failure_code ?? "payout failed"}, updated_at = now()
      where payout_id = ${payout.id} and status in ('payout_pending', 'paid') returning id`;
    if (moved.length) payoutTransitionsTotal.inc({ state: "payout_failed" });
    return true;
  }

  /**
   * A payout of ours whose row is not written yet: Stripe created it, then this node crashed or the
   * database failed before our insert. Its reward is still `transferred` on that account, so the
   * sweep finds the payout at Stripe (payouts.list) and writes the row.
   */
  async #payoutBeingRecorded(tx: TransactionSql, payout: Stripe.Payout, account: string | undefined): Promise<boolean> {
    const rewardId = payout.metadata?.reward_id;
    if (!rewardId || !UUID.test(rewardId) || !account) return false;
    const [reward] = await tx`
      select 1 from rewards where id = ${rewardId} and status = 'transferred' and stripe_account_id = ${account}`;
    return reward !== undefined;
  }

  async #reward(id: string): Promise<RewardRow | undefined> {
    const [row] = await this.#sql<RewardRow[]>`
      select r.id, r.session_id, r.amount_minor, r.currency, b.country, r.status, r.stripe_account_id, r.transfer_id,
             r.account_attempt, r.transfer_attempt, r.payout_attempt
      from rewards r join businesses b on b.id = r.business_id where r.id = ${id}`;
    return row;
  }

  async #call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      stripeRequestsTotal.inc({ operation, outcome: "ok" });
      return result;
    } catch (error) {
      const code = error instanceof Stripe.errors.StripeError ? (error.code ?? error.type) : "network";
      stripeRequestsTotal.inc({ operation, outcome: code });
      throw error;
    }
  }
}

// Polling accounts whose account.updated webhook did not come (StripePayouts.#pollOnboarding).
/** The webhook normally comes within seconds: no account is asked about before this, nor asked again sooner. */
const ONBOARDING_POLL_GRACE = "1 hour";
/** Rewards granted longer ago are no longer polled: an onboarding left that long is abandoned. */
const ONBOARDING_POLL_MAX_AGE = "30 days";
/** Accounts asked about per sweep (one a minute): a backlog drains without a burst of Stripe requests. */
const ONBOARDING_POLL_BATCH = 20;

/** A payout that failed or was refused waits on the customer: the sweep tries it again this often. */
const PAYOUT_RETRY_GRACE = "1 hour";

// Asking Stripe about payouts whose webhook did not come (StripePayouts.#reconcilePayouts).
/** A payout lands within a few business days and its webhook comes at once; Stripe retries one for 3 days. */
const PAYOUT_RECONCILE_AFTER = "3 days";
/** A payout still on its way is asked about again after this. */
const PAYOUT_RECHECK = "6 hours";
/** Payouts asked about per sweep (one a minute). */
const PAYOUT_RECONCILE_BATCH = 20;

/** Thrown in a webhook's transaction to roll it back, event id included, and have Stripe redeliver. */
class NotRecordedYet extends Error {
  override readonly name = "NotRecordedYet";
  constructor(readonly payoutId: string) {
    super(`payout ${payoutId} is not recorded yet`);
  }
}

/**
 * Stripe ran the request and refused it for what it asked (an invalid-request or card error:
 * balance_insufficient, a refused destination, an account it would not open): it stored that
 * answer under the request's idempotency key and replays it, so only the next key can succeed, and
 * nothing moved under this one. After anything else the key stays: answers given before Stripe
 * looks at the key, or about the key (401 a rolled API key, 403 a restricted one, 429, 400
 * idempotency_error), say nothing of an earlier request with it, which may have moved the money;
 * and without an answer (a network error, a 5xx, 409: another request with this key still running,
 * perhaps on another node) a request may still complete.
 */
function refusedForItsContent(error: Stripe.errors.StripeError): boolean {
  return error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeCardError;
}

/** Stripe's last word on a payout, if it has one (canceled, like failed, puts the money back). */
function settled(payout: Stripe.Payout): "paid" | "failed" | undefined {
  if (payout.status === "paid") return "paid";
  if (payout.status === "failed" || payout.status === "canceled") return "failed";
  return undefined;
}

function transferGroup(reward: RewardRow): string {
  return `session_${reward.session_id}`;
}

/** Stripe pays this account out: payouts enabled, and no bank account due again (a failed payout errors it). */
function canReceivePayouts(account: Stripe.Account): boolean {
  const due = [...(account.requirements?.currently_due ?? []), ...(account.requirements?.past_due ?? [])];
  return account.payouts_enabled === true && !due.includes("external_account");
}

function accountReady(account: Stripe.Account): boolean {
  return canReceivePayouts(account) && account.capabilities?.transfers === "active";
}

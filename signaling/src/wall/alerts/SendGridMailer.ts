// Alert e-mails through SendGrid's v3 Mail Send API: POST /v3/mail/send with
// a bearer API key; 202 means accepted. 429 and 5xx are retried with backoff
// within a time budget; other 4xx are the request's fault and are not. The
// API is not reachable from our build machines: tests run this client
// against signaling/test/sendgrid-test-double.ts, a local server speaking the
// same API (named a test double there).
import { type Alert, AlertKind } from "@parley/proto/wall";
import { type AlertMailer, MailError } from "./AlertMailer.ts";

export interface SendGridOptions {
  apiKey: string;
  /** https://api.sendgrid.com, or a local server in tests. */
  apiUrl: string;
  from: string;
  /** Where the wall is, for the link in the message. */
  wallUrl?: string;
  retry?: { maxRetry: number; retryIntervalMs: number; timeoutMs: number };
}

const SUBJECT: Record<AlertKind, string> = {
  [AlertKind.UNSPECIFIED]: "Parley alert",
  [AlertKind.LOW_SCORE]: "Low score from a customer still in the store / Lågt betyg från en kund i butiken",
  [AlertKind.NEGATIVE_SENTIMENT]: "An unhappy customer is still in the store / En missnöjd kund är kvar i butiken",
  [AlertKind.TOPIC_SPIKE]: "A topic keeps coming up negatively / Ett ämne återkommer negativt",
  [AlertKind.FRAUD_FLAGGED]: "Feedback flagged by the fraud rules / Feedback flaggad av bedrägerireglerna",
};

/** The plain-text body: what happened, where, and a link to the wall. */
export function alertText(alert: Alert, wallUrl?: string): string {
  const lines = [SUBJECT[alert.kind] ?? SUBJECT[AlertKind.UNSPECIFIED], ""];
  if (alert.storeCode) lines.push(`Store / Butik: ${alert.storeCode}`);
  if (alert.kind === AlertKind.TOPIC_SPIKE)
    lines.push(`Topic / Ämne: ${alert.topic} (${alert.count} negative conversations / negativa samtal)`);
  else if (alert.kind === AlertKind.FRAUD_FLAGGED) lines.push(`Rule / Regel: ${alert.detail}`);
  else lines.push(`Score / Betyg: ${alert.score}/100, sentiment ${alert.sentiment.toFixed(2)}`);
  if (alert.sessionId) lines.push(`Conversation / Samtal: ${alert.sessionId}`);
  lines.push(`Time / Tid: ${new Date(Number(alert.atMs)).toISOString()}`);
  if (wallUrl) lines.push("", wallUrl);
  return lines.join("\n");
}

export class SendGridMailer implements AlertMailer {
  readonly #o: SendGridOptions;
  readonly #retry: { maxRetry: number; retryIntervalMs: number; timeoutMs: number };

  constructor(options: SendGridOptions) {
    this.#o = options;
    this.#retry = options.retry ?? { maxRetry: 2, retryIntervalMs: 1_000, timeoutMs: 10_000 };
  }

  async send(alert: Alert, recipients: readonly string[]): Promise<void> {
    if (recipients.length === 0) return;
    const body = JSON.stringify({
      personalizations: [{ to: recipients.map((email) => ({ email })) }],
      from: { email: this.#o.from, name: "Parley" },
      subject: SUBJECT[alert.kind] ?? SUBJECT[AlertKind.UNSPECIFIED],
      content: [{ type: "text/plain", value: alertText(alert, this.#o.wallUrl) }],
      categories: ["parley-alert"],
    });
    const url = new URL("/v3/mail/send", this.#o.apiUrl);
    for (let attempt = 0; ; attempt++) {
      let error: MailError;
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${this.#o.apiKey}`, "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(this.#retry.timeoutMs),
        });
        if (res.status === 202 || res.status === 200) {
          await res.body?.cancel();
          return;
        }
        const detail = await res.text().catch(() => "");
        error = new MailError(
          `SendGrid answered ${res.status}: ${detail.slice(0, 300)}`,
          res.status,
          res.status === 429 || res.status >= 500,
        );
      } catch (cause) {
        error = new MailError(`SendGrid unreachable: ${(cause as Error).message}`, 0, true);
      }
      if (!error.retryable || attempt >= this.#retry.maxRetry) throw error;
      await new Promise((resolve) => setTimeout(resolve, this.#retry.retryIntervalMs * 2 ** attempt));
    }
  }
}

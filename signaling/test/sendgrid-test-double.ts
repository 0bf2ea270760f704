// A TEST DOUBLE of SendGrid's v3 Mail Send API (POST /v3/mail/send), for the
// alert mailer's tests: SendGrid cannot be reached from our build machines.
// It checks what SendGrid checks (bearer key; personalizations with `to`
// addresses, `from`, `subject`, `content` of type and value) and answers as
// SendGrid does: 202 with an X-Message-Id, or 400/401 with SendGrid's
// {"errors": [{message, field, help}]} body. `failNext` makes it answer the
// next requests with a given status (429, 500) to exercise retries.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SentMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  categories: string[];
}

interface MailBody {
  personalizations?: { to?: { email?: unknown }[] }[];
  from?: { email?: unknown };
  subject?: unknown;
  content?: { type?: unknown; value?: unknown }[];
  categories?: unknown;
}

const EMAIL = /^[^@\s]+@[^@\s]+$/;
const error = (message: string, field: string | null) => ({
  errors: [
    {
      message,
      field,
      help: field ? `http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.${field}` : null,
    },
  ],
});

export class SendGridTestDouble {
  readonly sent: SentMail[] = [];
  /** Every request, accepted or not. */
  requests = 0;
  readonly #server: Server;
  readonly #apiKey: string;
  #failures: number[] = [];

  static async start(apiKey: string): Promise<SendGridTestDouble> {
    const double = new SendGridTestDouble(apiKey);
    await new Promise<void>((resolve) => double.#server.listen(0, "127.0.0.1", resolve));
    return double;
  }

  private constructor(apiKey: string) {
    this.#apiKey = apiKey;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests++;
        const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { ...(body ? { "content-type": "application/json" } : {}), ...headers });
          res.end(body ? JSON.stringify(body) : undefined);
        };
        if (req.method !== "POST" || req.url !== "/v3/mail/send") return reply(404, error("not found", null));
        if (req.headers.authorization !== `Bearer ${this.#apiKey}`)
          return reply(401, error("The provided authorization grant is invalid, expired, or revoked", null));
        const failure = this.#failures.shift();
        if (failure === 429) return reply(429, error("too many requests", null), { "x-ratelimit-reset": "1" });
        if (failure) return reply(failure, error("internal error", null));
        let body: MailBody;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as MailBody;
        } catch {
          return reply(400, error("Bad Request", null));
        }
        const to = body.personalizations?.flatMap((p) => p.to ?? []).map((t) => t.email) ?? [];
        if (!body.personalizations?.length || to.length === 0)
          return reply(
            400,
            error(
              "The personalizations field is required and must have at least one personalization.",
              "personalizations",
            ),
          );
        if (to.some((e) => typeof e !== "string" || !EMAIL.test(e)))
          return reply(400, error("Does not contain a valid address.", "personalizations.0.to.0.email"));
        if (typeof body.from?.email !== "string" || !EMAIL.test(body.from.email))
          return reply(400, error("The from object must be provided for every email send.", "from"));
        if (typeof body.subject !== "string" || !body.subject)
          return reply(400, error("The subject is required.", "subject"));
        const text = body.content?.find((c) => c.type === "text/plain")?.value;
        if (typeof text !== "string" || !text)
          return reply(
            400,
            error("The content value must be a string at least one character in length.", "content.0.value"),
          );
        this.sent.push({
          to: to as string[],
          from: body.from.email,
          subject: body.subject,
          text,
          categories: Array.isArray(body.categories) ? (body.categories as string[]) : [],
        });
        reply(202, undefined, { "x-message-id": randomUUID() });
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The next requests answer these statuses, in order. */
  failNext(...statuses: number[]): void {
    this.#failures.push(...statuses);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// Alerts by e-mail, behind an interface: SendGridMailer in production (the
// deployment guide's SENDGRID_API_KEY), nothing when it is not configured.
import type { Alert } from "@parley/proto/wall";

export interface AlertMailer {
  /** Resolves once the provider accepted the message; rejects with a MailError. */
  send(alert: Alert, recipients: readonly string[]): Promise<void>;
}

/** Who receives a business's alerts. */
export interface AlertRecipients {
  forBusiness(businessId: string): Promise<string[]>;
}

export class MailError extends Error {
  readonly status: number;
  readonly retryable: boolean;

  constructor(message: string, status: number, retryable: boolean) {
    super(message);
    this.name = "MailError";
    this.status = status;
    this.retryable = retryable;
  }
}

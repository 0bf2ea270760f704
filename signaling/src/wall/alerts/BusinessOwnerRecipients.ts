// Who receives a business's alert e-mails: its owners, as the records
// database knows them, plus the addresses configured in ALERT_EMAIL_TO (an
// operations mailbox, say), each address once.
import type { AlertRecipients } from "./AlertMailer.ts";

export class BusinessOwnerRecipients implements AlertRecipients {
  readonly #owners: (businessId: string) => Promise<string[]>;
  readonly #also: readonly string[];

  /** `owners`: the owners' e-mail addresses of a business (records); `also`: ALERT_EMAIL_TO. */
  constructor(owners: (businessId: string) => Promise<string[]>, also: readonly string[]) {
    this.#owners = owners;
    this.#also = also;
  }

  async forBusiness(businessId: string): Promise<string[]> {
    const owners = await this.#owners(businessId);
    return [...new Set([...owners, ...this.#also].map((a) => a.trim().toLowerCase()).filter(Boolean))];
  }
}

// Which stores exist and what a conversation and a dashboard need to know of
// them: the business they belong to, their language and reward currency.
// The records database is the source; a session can only be created for a
// store it knows, so nothing a client invents becomes a metric label or a
// topic.
import type { Records } from "@parley/records";

export interface Store {
  code: string;
  businessId: string;
  name: string;
  /** BCP 47, passed to the speech engine. */
  language: string;
  /** ISO 4217, of the store's rewards. */
  currency: string;
}

export interface StoreDirectory {
  /** undefined for an unknown store; throws UNAVAILABLE when the database cannot be asked. */
  find(storeCode: string): Promise<Store | undefined>;
  /** The stores of one business (dashboards' store filters), or of every business. */
  list(businessId?: string): Promise<Store[]>;
  /** Whether a business of this id exists (an admin's wall names one); throws when the database cannot be asked. */
  hasBusiness(businessId: string): Promise<boolean>;
}

/** The stores of the records database. */
export class RecordsStoreDirectory implements StoreDirectory {
  readonly #records: Records;

  constructor(records: Records) {
    this.#records = records;
  }

  find(storeCode: string): Promise<Store | undefined> {
    return this.#records.findStore(storeCode);
  }

  list(businessId?: string): Promise<Store[]> {
    return this.#records.listStores(businessId);
  }

  hasBusiness(businessId: string): Promise<boolean> {
    return this.#records.wall.businessExists(businessId);
  }
}

// Which stores exist and what they need to know: the business they belong
// to, their language and their reward currency. A session can only be
// created for a known store, so nothing a client invents becomes a metric
// label or a topic.
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
  find(storeCode: string): Promise<Store | undefined>;
  /** The stores of one business (dashboards' store filters), or of every business. */
  list(businessId?: string): Promise<Store[]>;
}

/**
 * The embedded default: a configured list of store codes, of one business
 * unless an entry names its own (STORE_CODES="demo,north:acme").
 */
export class ConfiguredStoreDirectory implements StoreDirectory {
  readonly #stores: Map<string, Store>;

  constructor(options: {
    codes: readonly string[];
    businessId: string;
    businessOf?: Readonly<Record<string, string>>;
    language: string;
    currency: string;
  }) {
    this.#stores = new Map(
      options.codes.map((code) => [
        code,
        {
          code,
          businessId: options.businessOf?.[code] ?? options.businessId,
          name: code,
          language: options.language,
          currency: options.currency,
        },
      ]),
    );
  }

  async find(storeCode: string): Promise<Store | undefined> {
    return this.#stores.get(storeCode);
  }

  async list(businessId?: string): Promise<Store[]> {
    return [...this.#stores.values()].filter((s) => businessId === undefined || s.businessId === businessId);
  }
}

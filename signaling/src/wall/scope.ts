// Tenancy for dashboards: what one connection may watch, and the uWS topics
// that carry it. Every subscription is resolved here against the caller's
// token and the store directory: a business never sees another business's
// conversations (another business's store or id answers NOT_FOUND, as if it
// did not exist), staff may be limited to some stores, admins see all (a
// business they name that does not exist answers NOT_FOUND too).
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { DashboardCaller } from "../auth/userToken.ts";
import type { StoreDirectory } from "../stores/StoreDirectory.ts";

export interface WallScope {
  /** undefined: every business (admins only). */
  businessId: string | undefined;
  /** undefined: every store of the business (or of every business). */
  storeCodes: ReadonlySet<string> | undefined;
  /** Approved, redacted feedback only: no live transcripts. */
  publicScreen: boolean;
}

/**
 * The hub's uWS topics. An event of a conversation is published on its
 * store's, its business's and the "all" topic; a connection subscribes to
 * exactly the ones of its scope, so it never receives an event twice.
 */
export const wallTopic = {
  all: "all",
  business: (businessId: string) => `b/${businessId}`,
  store: (storeCode: string) => `s/${storeCode}`,
  publicBusiness: (businessId: string) => `p/b/${businessId}`,
  publicStore: (storeCode: string) => `p/s/${storeCode}`,
  monitor: "monitor",
  /** Each connection's own topic, never published to (see WallClient: it keeps uWS from freeing the subscriber). */
  client: (id: number) => `c/${id}`,
} as const;

export function topicsOfScope(scope: WallScope): string[] {
  if (scope.publicScreen)
    return scope.storeCodes
      ? [...scope.storeCodes].map(wallTopic.publicStore)
      : [wallTopic.publicBusiness(scope.businessId!)];
  if (scope.storeCodes) return [...scope.storeCodes].map(wallTopic.store);
  if (scope.businessId !== undefined) return [wallTopic.business(scope.businessId)];
  return [wallTopic.all];
}

/** The topics an item of one business (and store, if it has one) is published on. */
export function topicsOfItem(businessId: string, storeCode: string | undefined): string[] {
  return storeCode
    ? [wallTopic.store(storeCode), wallTopic.business(businessId), wallTopic.all]
    : [wallTopic.business(businessId), wallTopic.all];
}

/** The topics of an approved feedback for public screens. */
export const publicTopicsOfItem = (businessId: string, storeCode: string) => [
  wallTopic.publicStore(storeCode),
  wallTopic.publicBusiness(businessId),
];

/** Whether an item of this business and store belongs to the scope (live items: never for public screens). */
export function inScope(scope: WallScope, businessId: string, storeCode: string | undefined): boolean {
  if (scope.businessId !== undefined && scope.businessId !== businessId) return false;
  if (scope.storeCodes && (storeCode === undefined || !scope.storeCodes.has(storeCode))) return false;
  return true;
}

export interface ScopeRequest {
  businessId: string;
  storeCodes: readonly string[];
  publicScreen: boolean;
}

const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;
const BUSINESS_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const notFound = (what: string) => new ParleyError(ErrorCode.NOT_FOUND, what);

/** The scope a caller asked for, checked; throws NOT_FOUND for anything not theirs. */
export async function resolveScope(
  caller: DashboardCaller,
  request: ScopeRequest,
  stores: StoreDirectory,
): Promise<WallScope> {
  if (request.businessId && !BUSINESS_ID.test(request.businessId))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "malformed business id");
  let businessId: string | undefined;
  if (caller.role === "admin") {
    businessId = request.businessId || undefined;
    // Others' tokens name their business; an admin's wall names one that may not exist (a typo, a
    // truncated link): said as for anyone's unknown business, once per subscription or request.
    if (businessId !== undefined && !(await stores.hasBusiness(businessId))) throw notFound("no such business");
  } else {
    if (request.businessId && request.businessId !== caller.businessId) throw notFound("no such business");
    businessId = caller.businessId;
  }
  let storeCodes: Set<string> | undefined;
  if (request.storeCodes.length > 0) {
    storeCodes = new Set();
    for (const code of request.storeCodes) {
      if (!STORE_CODE.test(code)) throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "malformed store code");
      const store = await stores.find(code);
      if (!store) throw notFound(`no store ${code}`);
      if (businessId !== undefined && store.businessId !== businessId) throw notFound(`no store ${code}`);
      if (caller.storeCodes && !caller.storeCodes.includes(code)) throw notFound(`no store ${code}`);
      storeCodes.add(code);
    }
  } else if (caller.storeCodes) storeCodes = new Set(caller.storeCodes);
  if (request.publicScreen && businessId === undefined)
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "a public screen shows one business: name it");
  return { businessId, storeCodes, publicScreen: request.publicScreen };
}

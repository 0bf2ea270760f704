// What a wall or public screen asks the node to show (from its address:
// ?business=, ?store=, ?public=1) and, when the node refuses it for good,
// why in the viewer's words. The node's rules are signaling's wall/scope.ts:
// an unknown or malformed store or business answers NOT_FOUND or
// INVALID_ARGUMENT, and so does a public screen that names no business
// (only an admin's can: everyone else's token names one).
import { t } from "./ui.ts";

export interface ScopeAsked {
  /** "" for the caller's own (an admin's: every business). */
  businessId: string;
  storeCodes: readonly string[];
}

export function scopeProblem(asked: ScopeAsked & { publicScreen: boolean; admin: boolean }, reason: string): string {
  if (asked.publicScreen && asked.admin && !asked.businessId) return t("scope.publicNeedsBusiness");
  if (asked.storeCodes.length > 0) return t("scope.unknownStore", { stores: asked.storeCodes.join(", ") });
  if (asked.businessId) return t("scope.unknownBusiness", { business: asked.businessId });
  return t("scope.failed", { reason });
}

// What is checked before a run starts, so that a run that could only fail
// (no node at the URL, a listener that is not a node's public one, a store
// the node does not have, a folder the report cannot go to) is refused at
// once, as bad usage, instead of after the whole run.
import { accessSync, constants, existsSync, statSync } from "node:fs";
import path from "node:path";
import { UsageError } from "./options.ts";

const CHECK_TIMEOUT_MS = 5_000;

/**
 * Why a fetch failed, with what undici hides behind "fetch failed": its
 * cause's code and message (ECONNREFUSED, ENOTFOUND, a TLS error, ...).
 */
export function fetchFailure(error: unknown): string {
  const e = error as Error & { cause?: unknown };
  if (e?.name === "TimeoutError") return `no answer within ${CHECK_TIMEOUT_MS / 1000} s`;
  const cause = e?.cause as (Error & { code?: string; errors?: Error[] }) | undefined;
  if (!cause || typeof cause !== "object") return e?.message ?? String(error);
  // Several addresses tried (localhost: ::1 and 127.0.0.1): an AggregateError with an empty message.
  const detail = cause.message || (cause.errors ?? []).map((x) => x.message).join("; ");
  const code = cause.code;
  const why = detail ? (code && !detail.includes(code) ? `${code}: ${detail}` : detail) : (code ?? String(cause));
  return `${e.message}: ${why}`;
}

/**
 * The node answers /health, and has the store the sessions are created in
 * (`GET /api/stores/<code>`, which every node's public listener serves). A
 * UsageError saying what is wrong otherwise.
 */
export async function checkNode(url: string, storeCode: string): Promise<void> {
  const get = async (route: string) => {
    try {
      return await fetch(`${url}${route}`, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    } catch (error) {
      throw new UsageError(`no Parley node at ${url}: ${fetchFailure(error)}`);
    }
  };
  const health = await get("/health");
  if (!health.ok) throw new UsageError(`no Parley node at ${url}: /health answered ${health.status}`);
  const route = `/api/stores/${encodeURIComponent(storeCode)}`;
  const store = await get(route);
  if (store.ok) return;
  const body = await store.text().catch(() => "");
  const error = (() => {
    try {
      return String((JSON.parse(body) as { error?: unknown }).error ?? "");
    } catch {
      return "";
    }
  })();
  // The store route's own 404 says so; any other 404 is a listener without the route.
  if (store.status === 404 && error === "no such store")
    throw new UsageError(`--store ${storeCode}: the node at ${url} has no such store`);
  if (store.status === 404)
    throw new UsageError(
      `${url} is not a Parley node's public listener: ${route} answered 404` +
        " (a node's internal listener, 127.0.0.1:9464 by default, serves only /health, /ready and /metrics)",
    );
  if (store.status === 400) throw new UsageError(`--store ${storeCode}: ${error || "refused by the node (400)"}`);
  // 429, 503 (its database away): the store may well be there; the sessions will tell.
  console.error(
    `loadtest: warning: could not check store ${storeCode}: ${route} answered ${store.status}${error ? ` (${error})` : ""}`,
  );
}

/**
 * Whether the report can go to `dir`, without making it yet (a run refused
 * later leaves no empty folder behind): it is a folder, or the nearest one
 * above it that exists is, and can be written to.
 */
export function checkOutDir(dir: string): void {
  let at = dir;
  while (!existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  try {
    if (!statSync(at).isDirectory())
      throw new UsageError(
        at === dir ? `--out ${dir}: a file, not a folder` : `--out ${dir}: ${at} is a file, not a folder`,
      );
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--out ${dir}: cannot write there: ${(error as Error).message}`);
  }
}

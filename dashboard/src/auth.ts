// The dashboard's sign-in: an e-mail and a password against the node's
// POST /api/auth/login (the records package's logins), or a token handed
// over once in the URL's fragment (#token=..., never sent to a server in a
// request line, and removed from the address bar at once). The token is
// kept for this browser tab only (sessionStorage): closing it signs out.
import { HttpProblem } from "./problems.ts";

const KEY = "parley.dashboard.token";

export type UserRole = "owner" | "staff" | "admin";

export type LoginResult =
  | { ok: true; token: string; role: UserRole }
  | { ok: false; problem: "wrong" }
  | { ok: false; problem: "tooMany"; retryAfterS: number }
  | { ok: false; problem: "failed"; error: HttpProblem };

export function takeToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    saveToken(fromUrl);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
    return fromUrl;
  }
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The login's JSON as it should be; checked, since a proxy or an old node may answer otherwise. */
type LoginAnswer = { token?: unknown; user?: { role?: unknown } } | null;

/**
 * Logs in; on success the token is kept for this tab. Never throws: a node
 * out of reach, or an answer that is not the login's (a proxy's error page),
 * is a "failed" result, its detail logged to the console.
 */
export async function logIn(email: string, password: string): Promise<LoginResult> {
  let res: Response;
  try {
    res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: email.trim(), password }),
    });
  } catch (error) {
    return failed(new HttpProblem("unreachable", 0, String(error)));
  }
  if (res.status === 200) {
    const body = (await res.json().catch(() => undefined)) as LoginAnswer | undefined;
    const token = body?.token;
    const role = body?.user?.role;
    if (typeof token !== "string" || (role !== "owner" && role !== "staff" && role !== "admin"))
      return failed(new HttpProblem("unreadable", 200, "the login's answer is not its JSON"));
    saveToken(token);
    return { ok: true, token, role };
  }
  if (res.status === 401) return { ok: false, problem: "wrong" };
  if (res.status === 429)
    return { ok: false, problem: "tooMany", retryAfterS: Number(res.headers.get("retry-after")) || 60 };
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  return failed(new HttpProblem("status", res.status, body.error ?? res.statusText));
}

function failed(error: HttpProblem): LoginResult {
  console.warn("sign-in failed:", error.kind, error.status, error.message);
  return { ok: false, problem: "failed", error };
}

export const wallSocketUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/wall/ws`;

// The dashboard's sign-in: an e-mail and a password against the node's
// POST /api/auth/login (the records package's logins), or a token handed
// over once in the URL's fragment (#token=..., never sent to a server in a
// request line, and removed from the address bar at once). The token is
// kept for this browser tab only (sessionStorage): closing it signs out.
const KEY = "parley.dashboard.token";

export type UserRole = "owner" | "staff" | "admin";

export type LoginResult =
  | { ok: true; token: string; role: UserRole }
  | { ok: false; problem: "wrong" }
  | { ok: false; problem: "tooMany"; retryAfterS: number }
  | { ok: false; problem: "failed"; detail: string };

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

/** Logs in; on success the token is kept for this tab. */
export async function logIn(email: string, password: string): Promise<LoginResult> {
  let res: Response;
  try {
    res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: email.trim(), password }),
    });
  } catch (error) {
    return { ok: false, problem: "failed", detail: (error as Error).message };
  }
  if (res.status === 200) {
    const body = (await res.json()) as { token: string; user: { role: UserRole } };
    saveToken(body.token);
    return { ok: true, token: body.token, role: body.user.role };
  }
  if (res.status === 401) return { ok: false, problem: "wrong" };
  if (res.status === 429)
    return { ok: false, problem: "tooMany", retryAfterS: Number(res.headers.get("retry-after")) || 60 };
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  return { ok: false, problem: "failed", detail: body.error ?? `HTTP ${res.status}` };
}

export const wallSocketUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/wall/ws`;

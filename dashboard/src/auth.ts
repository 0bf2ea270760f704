// The dashboard's sign-in token: a business user's or admin's signed token.
// It arrives once in the URL's fragment (#token=..., never sent to a server
// in a request line), is kept in the browser (a TV wall survives a reboot), and is removed from the
// address bar. The records package's login page will hand it over the same
// way.
const KEY = "parley.dashboard.token";

export function takeToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get("token");
  if (fromUrl) {
    localStorage.setItem(KEY, fromUrl);
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
    return fromUrl;
  }
  return localStorage.getItem(KEY) ?? undefined;
}

export function saveToken(token: string): void {
  localStorage.setItem(KEY, token.trim());
}

export function forgetToken(): void {
  localStorage.removeItem(KEY);
}

export const wallSocketUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/wall/ws`;

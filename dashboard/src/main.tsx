import { createSignal, Match, Switch } from "solid-js";
import { render } from "solid-js/web";
import { forgetToken, takeToken, type UserRole } from "./auth.ts";
import { Monitor } from "./Monitor.tsx";
import { PublicScreen } from "./PublicScreen.tsx";
import { SignIn } from "./SignIn.tsx";
import { language } from "./ui.ts";
import { Wall } from "./Wall.tsx";
import "./style.css";

const params = new URLSearchParams(location.search);
const kiosk = params.get("kiosk") === "1";
const storeCodes = (params.get("store") ?? "").split(",").filter(Boolean);
/** An admin's wall or public screen of one business (everyone else's token names theirs). */
const businessId = params.get("business") ?? "";
const view = location.pathname.replace(/\/+$/, "").endsWith("/monitor")
  ? "monitor"
  : params.get("public") === "1"
    ? "public"
    : "wall";
document.documentElement.lang = language();
if (kiosk) document.documentElement.classList.add("kiosk");

/** Where a signed-in user belongs: admins on the monitor, a business's people on its wall (a public screen stays). */
function landing(role: UserRole): string | undefined {
  const base = import.meta.env.BASE_URL;
  if (role === "admin" && view === "wall") return `${base}monitor${location.search}`;
  if (role !== "admin" && view === "monitor") return `${base}${location.search}`;
  return undefined;
}

function Root() {
  const [token, setToken] = createSignal(takeToken());
  /** Why the node refused the token (it says so on the sign-in form). */
  const [problem, setProblem] = createSignal<Error>();
  const refused = (why: Error | undefined) => {
    forgetToken();
    setProblem(() => why);
    setToken(undefined);
  };
  const signedIn = (t: string, role: UserRole) => {
    const there = landing(role);
    if (there) location.assign(there);
    else setToken(t);
  };
  return (
    <Switch>
      <Match when={!token()}>
        <SignIn problem={problem()} done={signedIn} />
      </Match>
      <Match when={view === "monitor"}>
        <Monitor token={token()!} kiosk={kiosk} onRefused={refused} />
      </Match>
      <Match when={view === "public"}>
        <PublicScreen
          token={token()!}
          kiosk={kiosk}
          businessId={businessId}
          storeCodes={storeCodes}
          onRefused={refused}
        />
      </Match>
      <Match when={view === "wall"}>
        <Wall token={token()!} kiosk={kiosk} businessId={businessId} storeCodes={storeCodes} onRefused={refused} />
      </Match>
    </Switch>
  );
}

render(() => <Root />, document.getElementById("root")!);

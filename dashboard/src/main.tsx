import { createSignal, Match, Switch } from "solid-js";
import { render } from "solid-js/web";
import { forgetToken, takeToken } from "./auth.ts";
import { Monitor } from "./Monitor.tsx";
import { PublicScreen } from "./PublicScreen.tsx";
import { SignIn } from "./SignIn.tsx";
import { language } from "./ui.ts";
import { Wall } from "./Wall.tsx";
import "./style.css";

const params = new URLSearchParams(location.search);
const kiosk = params.get("kiosk") === "1";
const storeCodes = (params.get("store") ?? "").split(",").filter(Boolean);
const view = location.pathname.replace(/\/+$/, "").endsWith("/monitor")
  ? "monitor"
  : params.get("public") === "1"
    ? "public"
    : "wall";
document.documentElement.lang = language();
if (kiosk) document.documentElement.classList.add("kiosk");

function Root() {
  const [token, setToken] = createSignal(takeToken());
  const [problem, setProblem] = createSignal("");
  const refused = (why: string) => {
    forgetToken();
    setProblem(why);
    setToken(undefined);
  };
  return (
    <Switch>
      <Match when={!token()}>
        <SignIn problem={problem()} done={setToken} />
      </Match>
      <Match when={view === "monitor"}>
        <Monitor token={token()!} kiosk={kiosk} onRefused={refused} />
      </Match>
      <Match when={view === "public"}>
        <PublicScreen token={token()!} kiosk={kiosk} storeCodes={storeCodes} onRefused={refused} />
      </Match>
      <Match when={view === "wall"}>
        <Wall token={token()!} kiosk={kiosk} storeCodes={storeCodes} onRefused={refused} />
      </Match>
    </Switch>
  );
}

render(() => <Root />, document.getElementById("root")!);

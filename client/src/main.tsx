import { render } from "solid-js/web";
import { App } from "./App.tsx";
import { ClaimReturn } from "./ClaimReturn.tsx";
import "./style.css";

/** Back from Stripe's onboarding for this session's reward (REWARD_RETURN_URL). */
const claimed = new URLSearchParams(location.search).get("claimed");

render(() => (claimed ? <ClaimReturn sessionId={claimed} /> : <App />), document.getElementById("root")!);

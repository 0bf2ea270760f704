import { render } from "solid-js/web";
import { App } from "./App.tsx";
import { ClaimReturn } from "./ClaimReturn.tsx";
import { MyData } from "./MyData.tsx";
import "./style.css";

const query = new URLSearchParams(location.search);
/** Back from Stripe's onboarding for this session's reward (REWARD_RETURN_URL). */
const claimed = query.get("claimed");

render(
  () => (claimed ? <ClaimReturn sessionId={claimed} /> : query.has("data") ? <MyData /> : <App />),
  document.getElementById("root")!,
);

export { issueToken, verifyToken } from "./auth/token.ts";
export { type Config, loadConfig } from "./config.ts";
export { ParleyServer } from "./ParleyServer.ts";

export { type Config, loadConfig } from "./config.ts";
export { ParleyServer } from "./ParleyServer.ts";
export { issueToken, verifyToken } from "./token.ts";

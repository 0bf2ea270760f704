export { issueToken, verifyToken } from "./auth/token.ts";
export { type Config, loadConfig } from "./config.ts";
export { ClientIpResolver, clientKey } from "./edge/ClientIpResolver.ts";
export { MemoryRateLimiter } from "./edge/MemoryRateLimiter.ts";
export {
  createRateLimiter,
  type RateDecision,
  type RateLimiter,
  type RateLimitOptions,
  retryAfterSeconds,
} from "./edge/RateLimiter.ts";
export { ParleyServer } from "./ParleyServer.ts";

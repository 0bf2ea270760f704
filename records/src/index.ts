export { AudioFingerprinter } from "./audio/AudioFingerprinter.ts";
export { addressKey } from "./auth/RateLimiter.ts";
export { issueUserToken, limitedStores, type Role, type UserClaims, verifyUserToken } from "./auth/token.ts";
export { databaseUnavailable, isRetryableDbError } from "./db/errors.ts";
export type { FraudOptions, FraudRule } from "./fraud/FraudDetector.ts";
export type { CustomerDeletion, RecordsRateLimit } from "./http/context.ts";
export { recordsRateLimits } from "./http/context.ts";
export type { Auth, Method, RecordsRequest, RecordsResponse, Route } from "./http/types.ts";
export { matchPath } from "./http/types.ts";
export type { StripeOptions } from "./payments/StripePayouts.ts";
export type { RetentionOptions } from "./privacy/RetentionJob.ts";
export type { AlertKindName, AlertQueries, AlertRecord, AlertSaved, AlertToSave } from "./queries/alerts.ts";
export type {
  ModerationActor,
  ModerationQueries,
  ModerationRecord,
  ModerationSettingsRecord,
  ModerationState,
} from "./queries/moderation.ts";
export type {
  ConversationRecord,
  FeedbackFilter,
  FeedbackPage,
  FeedbackPosition,
  FeedbackRecord,
  RewardRecord,
  ScoreRecord,
  SegmentRecord,
  TilesRecord,
  TrendSpan,
  TrendsRecord,
  WallQueries,
  WallQueryScope,
} from "./queries/wall.ts";
export { isFeedbackPosition } from "./queries/wall.ts";
export {
  type BegunSession,
  Records,
  type RecordsOptions,
  type ResumableSession,
  type SessionBeginning,
} from "./Records.ts";
export { DEFAULT_POLICY, type RewardPolicy } from "./rewards/policy.ts";
export type { CountSession, Publish, PublishTarget } from "./rewards/SessionFinalizer.ts";

// Assembles one conversation from the node's parts: a router lease, the
// customer's media (WebRTC in, the AI's voice out, RTP → PCM) and the
// bridge's side (speech stream, scoring, the AI's turns). Media feeds PCM to
// the bridge; the bridge publishes through the session. Nothing here knows
// about sockets.
import {
  type AsrWorkerPool,
  type RetryPolicy,
  type Scoring,
  type SpeechSynthesizer,
  VoiceConversation,
} from "@parley/inference-bridge";
import { CustomerMedia, type MediaWorkerPool } from "@parley/media";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Config } from "../config.ts";
import type { Session } from "./Session.ts";

/** What every conversation of the node is built from. */
export interface ConversationParts {
  config: Config;
  mediaPool: MediaWorkerPool;
  asrPool: AsrWorkerPool;
  scoring: Scoring;
  tts: SpeechSynthesizer;
  asrRetry?: RetryPolicy;
  /** The media worker under a session died. */
  onMediaLost: (session: Session, reason: string) => void;
}

/** Starts the session's conversation; throws UNAVAILABLE when no media worker is left. */
export function startConversation(parts: ConversationParts, session: Session): void {
  const { config, mediaPool, asrPool, scoring, tts } = parts;
  const lease = mediaPool.acquireRouter();
  if (!lease) throw new ParleyError(ErrorCode.UNAVAILABLE, "no media worker available", { retryable: true });
  session.begin(); // SessionStarted precedes every other event of the conversation
  let media: CustomerMedia | undefined;
  const conversation = new VoiceConversation({
    sessionId: session.id,
    pool: asrPool,
    logger: session.logger,
    language: session.store.language,
    sendChunkMs: config.asr.chunkMs,
    finishTimeoutMs: config.asr.finishTimeoutMs,
    ...(parts.asrRetry ? { retry: parts.asrRetry } : {}),
    publish: session.publishEvent,
    dialogue: {
      scoring: scoring.engine,
      planner: scoring.planner,
      tts,
      voice: () => {
        if (!media) throw new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
        return media.aiVoice();
      },
      config: {
        turnSilenceMs: config.dialogue.turnSilenceMs,
        maxTurns: config.dialogue.maxTurns,
        endSilenceMs: config.dialogue.endSilenceMs,
        partialScoreIntervalMs: config.scoring.partialIntervalMs,
      },
      currency: session.store.currency,
    },
  });
  media = new CustomerMedia({
    router: lease.router,
    listenIp: config.media.listenIp,
    ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
    logger: session.logger,
    reorderWindowMs: config.media.reorderWindowMs,
    onPcm: conversation.pushPcm,
    workerPid: lease.pid,
  });
  media.once("close", (reason) => {
    if (reason === CustomerMedia.WORKER_LOST) parts.onMediaLost(session, reason);
  });
  session.attachParts(media, conversation, lease.release);
}

// Assembles one conversation from the node's parts: a router lease, the
// customer's media (WebRTC in, the AI's voice out, RTP → PCM) and the
// bridge's side (speech stream, scoring, the AI's turns). Media feeds PCM to
// the bridge; the bridge publishes through the session. Nothing here knows
// about sockets.

import {
  type AsrWorkerPool,
  type RetryPolicy,
  type Scoring,
  type SpeechReservation,
  type SpeechSynthesizer,
  VoiceConversation,
} from "@parley/inference-bridge";
import { CustomerMedia, type MediaWorkerPool } from "@parley/media";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { EndReason } from "@parley/proto/live";
import type { Config } from "../config.ts";
import { AudioClock } from "./AudioClock.ts";
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
  /**
   * The conversation ended by itself, its ConversationEnded published (the AI
   * ended it, or speech recognition failed for good): the session ends too,
   * whether or not the customer's app hangs up.
   */
  onConversationOver: (session: Session, reason: EndReason) => void;
  /** A per-session consumer of the customer's 16 kHz PCM besides the speech stream (the audio fingerprint). */
  audioTap?: (sessionId: string) => { push(pcm: Int16Array): void };
}

/** The hint given with a refusal for want of speech capacity. */
export const SPEECH_RETRY_AFTER_MS = 5_000;

/**
 * The customer's microphone is about to send: hold a slot on a speech
 * worker that speaks the store's language for the session, or refuse now, before the customer starts
 * talking, when every worker is at capacity. The slot turns into a stream
 * when audio flows (or is given up after ASR_ADMISSION_HOLD_MS without audio).
 */
export function admitSpeech(
  parts: Pick<ConversationParts, "asrPool" | "config">,
  session: Session,
): SpeechReservation | undefined {
  const conversation = session.conversation;
  if (!conversation || conversation.speechStarted) return undefined;
  const language = session.store.language;
  // Session creation refuses such a store (422); one placed here by another node, or resumed
  // after a restart, may still reach this node: no waiting helps it, so the refusal is final.
  if (parts.asrPool.unsupported(language)) {
    session.logger.warn({ language }, "refused: no speech worker recognises the store's language");
    throw new ParleyError(ErrorCode.UNAVAILABLE, `speech recognition is not available in ${language} here`, {
      retryable: false,
    });
  }
  const reservation = parts.asrPool.reserve(parts.config.asr.admissionHoldMs, language);
  if (!reservation) {
    session.logger.warn({ language }, "refused: every speech worker for the store's language is at capacity");
    throw new ParleyError(ErrorCode.UNAVAILABLE, "every speech worker is busy; try again in a moment", {
      retryable: true,
      retryAfterMs: SPEECH_RETRY_AFTER_MS,
    });
  }
  conversation.holdSpeechCapacity(reservation);
  return reservation;
}

/** Starts the session's conversation; throws UNAVAILABLE when no media worker is left. */
export function startConversation(parts: ConversationParts, session: Session): void {
  const { config, mediaPool, asrPool, scoring, tts } = parts;
  const lease = mediaPool.acquireRouter();
  if (!lease) throw new ParleyError(ErrorCode.UNAVAILABLE, "no media worker available", { retryable: true });
  session.begin(); // SessionStarted precedes every other event of the conversation
  const conversation = new VoiceConversation({
    sessionId: session.id,
    pool: asrPool,
    logger: session.logger,
    language: session.store.language,
    sendChunkMs: config.asr.chunkMs,
    finishTimeoutMs: config.asr.finishTimeoutMs,
    ...(parts.asrRetry ? { retry: parts.asrRetry } : {}),
    publish: session.publishEvent,
    onEndedItself: (reason) => parts.onConversationOver(session, reason),
    ...(session.resumed
      ? { restore: { segments: session.resumed.segments, askedQuestions: session.resumed.askedQuestions } }
      : {}),
    dialogue: {
      scoring: scoring.engine,
      planner: scoring.planner,
      tts,
      // The session's media of the moment: it may move to another worker.
      voice: () => {
        const media = session.media;
        if (!media || media.closed) throw new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
        return media.aiVoice();
      },
      config: {
        turnSilenceMs: config.dialogue.turnSilenceMs,
        maxTurns: config.dialogue.maxTurns,
        lastAnswerSilenceMs: config.dialogue.lastAnswerSilenceMs,
        endSilenceMs: config.dialogue.endSilenceMs,
        partialScoreIntervalMs: config.scoring.partialIntervalMs,
      },
      currency: session.store.currency,
    },
  });
  // A resumed conversation's audio continues after what the previous process transcribed, past a short break.
  const resumedEnd = session.resumed?.segments.at(-1)?.endMs;
  const clock = new AudioClock(
    tapped(conversation.pushPcm, parts.audioTap?.(session.id)),
    resumedEnd === undefined ? 0 : (resumedEnd + 1_000) * 16,
  );
  session.attachParts(openMedia(parts, session, lease, clock.next()), conversation, lease.release, clock);
}

type RouterLease = NonNullable<ReturnType<MediaWorkerPool["acquireRouter"]>>;

function openMedia(parts: ConversationParts, session: Session, lease: RouterLease, onPcm: PcmSink): CustomerMedia {
  const { config } = parts;
  const media = new CustomerMedia({
    router: lease.router,
    listenIp: config.media.listenIp,
    ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
    logger: session.logger,
    reorderWindowMs: config.media.reorderWindowMs,
    onPcm,
    workerPid: lease.pid,
  });
  media.once("close", (reason) => {
    if (reason === CustomerMedia.WORKER_LOST) parts.onMediaLost(session, reason);
    // With the socket alive the app is waiting on audio that no longer arrives: give it fresh
    // media. Without a socket the customer is rejoining, and the join renews the media. A
    // transport the app closed itself (hanging up) is not moved: the socket's close follows.
    else if (
      (reason === CustomerMedia.SEND_TRANSPORT_FAILED || reason === CustomerMedia.RECV_TRANSPORT_FAILED) &&
      session.hasOwner
    )
      parts.onMediaLost(session, reason);
  });
  return media;
}

/**
 * Fresh media for a live session, when its worker died or its customer
 * joined again (their transports went with the old connection): on a live
 * worker (the pool replaces a dead one within moments, so wait up to
 * `waitMs` for a router). The conversation goes on; its audio continues on
 * the same timeline. The customer's app then sets its transports up again.
 */
export async function moveMedia(parts: ConversationParts, session: Session, waitMs = 10_000): Promise<void> {
  const clock = session.audioClock;
  if (!clock || session.ended) throw new ParleyError(ErrorCode.NOT_FOUND, "session has no media to move");
  const deadline = performance.now() + waitMs;
  let lease = parts.mediaPool.acquireRouter();
  while (!lease && performance.now() < deadline && !session.ended) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    lease = parts.mediaPool.acquireRouter();
  }
  if (!lease) throw new ParleyError(ErrorCode.UNAVAILABLE, "no media worker to move to", { retryable: true });
  if (session.ended) {
    lease.release();
    throw new ParleyError(ErrorCode.NOT_FOUND, "session ended");
  }
  // The old media closes first: its decoder flushes the packets it held onto the timeline,
  // which must come before the break's silence (clock.next()) or the speech stream sees
  // an overlap, then a gap. replaceMedia's own close is then a no-op.
  session.media?.close("replaced");
  session.replaceMedia(openMedia(parts, session, lease, clock.next()), lease.release);
}

type PcmSink = VoiceConversation["pushPcm"];

/** The speech stream's sink, also feeding `tap` when there is one (no closure per frame otherwise). */
function tapped(sink: PcmSink, tap: { push(pcm: Int16Array): void } | undefined): PcmSink {
  if (!tap) return sink;
  return (pcm, offsetSamples, arrivedAtMs) => {
    sink(pcm, offsetSamples, arrivedAtMs);
    tap.push(pcm);
  };
}

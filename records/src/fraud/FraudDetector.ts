// The fraud and quality rules, run once per conversation after it ended.
// 'fraud' flags (a second session for the same receipt, too many sessions from
// one device or IP, the same recording replayed, a transcript copied from
// another session, scripted talk) withhold the reward and count as
// feedback_sessions_total{status="fraud_detected"}; 'quality' flags (empty or
// off-topic feedback) withhold the reward without calling it fraud.
import type { TransactionSql } from "postgres";
import type { Fingerprint } from "../audio/AudioFingerprinter.ts";
import { decodeFingerprint, encodeFingerprint, FingerprintIndex } from "../audio/fingerprint.ts";
import { fraudFlagsTotal } from "../metrics.ts";
import { decodeMinhash, encodeMinhash, minhash, scripted, similarity, words } from "./text.ts";

export type FraudRule =
  | "duplicate_receipt"
  | "device_velocity"
  | "ip_velocity"
  | "replayed_audio"
  | "near_duplicate_transcript"
  | "scripted"
  | "empty"
  | "off_topic";

export interface FraudFlag {
  rule: FraudRule;
  severity: "fraud" | "quality";
  detail: Record<string, string | number | boolean>;
}

export interface FraudOptions {
  /** ENABLE_FRAUD_DETECTION */
  enabled: boolean;
  /** Sessions per device / per IP counted over this window. */
  velocityWindowMs: number;
  maxSessionsPerDevice: number;
  maxSessionsPerIp: number;
  /** Estimated Jaccard similarity of word 3-grams from which two transcripts are the same text. */
  nearDuplicateSimilarity: number;
  /** How far back transcripts are compared. */
  transcriptLookbackMs: number;
  /** Fewer words than this is empty feedback. */
  minWords: number;
  /** A final relevance below this (0..1, from the scorer) is off-topic. */
  minRelevance: number;
}

export const DEFAULT_FRAUD_OPTIONS: FraudOptions = {
  enabled: true,
  velocityWindowMs: 24 * 3_600_000,
  maxSessionsPerDevice: 3,
  maxSessionsPerIp: 20,
  nearDuplicateSimilarity: 0.8,
  transcriptLookbackMs: 30 * 86_400_000,
  minWords: 5,
  minRelevance: 0.2,
};

export interface SessionFacts {
  sessionId: string;
  businessId: string;
  createdAt: Date;
  deviceHash: string | null;
  ipHash: string | null;
  receiptRef: string | null;
  transcript: string;
  relevance: number | undefined;
  fingerprint: Fingerprint | undefined;
}

export class FraudDetector {
  readonly options: FraudOptions;

  constructor(options: FraudOptions) {
    this.options = options;
  }

  /**
   * Runs every rule and stores the flags (once per rule), the session's audio
   * fingerprint and its transcript signature for later comparisons. Run it in
   * the transaction that decides the reward, after that transaction locked the
   * business's row: the rules that compare with the business's other sessions
   * (receipt, audio, transcript) then see every session decided before this
   * one, so two sessions that end together cannot both miss each other.
   */
  async check(tx: TransactionSql, facts: SessionFacts, now: Date): Promise<FraudFlag[]> {
    if (!this.options.enabled) return [];
    const flags = [
      ...(await this.#receiptFlags(tx, facts)),
      ...(await this.#velocityFlags(tx, facts)),
      ...(await this.#audioFlags(tx, facts, now)),
      ...(await this.#transcriptFlags(tx, facts, now)),
    ];
    for (const f of flags)
      await tx`
        insert into fraud_flags (session_id, rule, severity, detail, created_at)
        values (${facts.sessionId}, ${f.rule}, ${f.severity}, ${tx.json(f.detail)}, ${now})
        on conflict (session_id, rule) do nothing`;
    return flags;
  }

  /**
   * Another session of the business with this receipt had its reward decided, whatever the
   * decision (one that earned nothing cannot be retried for a reward). A session the customer
   * was turned away from does not count: one begun but never joined has no decision, and one
   * turned away after joining (no speech capacity, a failed media setup) was decided without a
   * score or flagged empty. Under the business's lock, of two sessions ending together the one
   * decided second is flagged.
   */
  async #receiptFlags(tx: TransactionSql, facts: SessionFacts): Promise<FraudFlag[]> {
    if (!facts.receiptRef) return [];
    const [decided] = await tx<{ n: number }[]>`
      select count(*)::int as n from sessions o, sessions me
      where me.id = ${facts.sessionId} and o.business_id = me.business_id
        and (o.receipt_ref = ${facts.receiptRef} or o.receipt_hash = me.receipt_hash)
        and o.id <> me.id
        and exists (select 1 from rewards r where r.session_id = o.id and r.reason <> 'no_score')
        and not exists (select 1 from fraud_flags f where f.session_id = o.id and f.rule = 'empty')`;
    return decided!.n > 0 ? [fraud("duplicate_receipt", { earlierSessions: decided!.n })] : [];
  }

  async #velocityFlags(tx: TransactionSql, facts: SessionFacts): Promise<FraudFlag[]> {
    const o = this.options;
    const flags: FraudFlag[] = [];
    if (facts.deviceHash) {
      const n = await countRunSessions(tx, facts.sessionId, "device_hash", facts.deviceHash, o.velocityWindowMs);
      if (n > o.maxSessionsPerDevice)
        flags.push(
          fraud("device_velocity", { sessions: n, max: o.maxSessionsPerDevice, windowMs: o.velocityWindowMs }),
        );
    }
    if (facts.ipHash) {
      const n = await countRunSessions(tx, facts.sessionId, "ip_hash", facts.ipHash, o.velocityWindowMs);
      if (n > o.maxSessionsPerIp)
        flags.push(fraud("ip_velocity", { sessions: n, max: o.maxSessionsPerIp, windowMs: o.velocityWindowMs }));
    }
    return flags;
  }

  /** The same recording as a session of the business whose fingerprint is kept; stores this one's. */
  async #audioFlags(tx: TransactionSql, facts: SessionFacts, now: Date): Promise<FraudFlag[]> {
    if (!facts.fingerprint || facts.fingerprint.values.length === 0) return [];
    const index = new FingerprintIndex(facts.fingerprint);
    // Fingerprints are voice data: the retention job removes them, which bounds this scan.
    const others = await tx<{ session_id: string; data: Uint8Array }[]>`
      select session_id, data from audio_fingerprints
      where business_id = ${facts.businessId} and session_id <> ${facts.sessionId}
      order by created_at desc limit 500`;
    const flags: FraudFlag[] = [];
    for (const other of others) {
      const match = index.match(decodeFingerprint(other.data));
      if (match) {
        flags.push(
          fraud("replayed_audio", {
            sameAsSession: other.session_id,
            bitErrorRate: Number(match.bitErrorRate.toFixed(3)),
            frames: match.comparedFrames,
          }),
        );
        break;
      }
    }
    await tx`
      insert into audio_fingerprints (session_id, business_id, frames, data, created_at)
      values (${facts.sessionId}, ${facts.businessId}, ${facts.fingerprint.values.length},
              ${encodeFingerprint(facts.fingerprint)}, ${now})
      on conflict (session_id) do nothing`;
    return flags;
  }

  /** What was said: empty, off-topic, scripted, or copied from another session of the business. */
  async #transcriptFlags(tx: TransactionSql, facts: SessionFacts, now: Date): Promise<FraudFlag[]> {
    const o = this.options;
    const wordCount = words(facts.transcript).length;
    if (wordCount < o.minWords) return [quality("empty", { words: wordCount, min: o.minWords })];
    const flags: FraudFlag[] = [];
    if (facts.relevance !== undefined && facts.relevance < o.minRelevance)
      flags.push(quality("off_topic", { relevance: Number(facts.relevance.toFixed(2)), min: o.minRelevance }));
    const verdict = scripted(facts.transcript);
    if (verdict.scripted)
      flags.push(
        fraud("scripted", {
          distinctRatio: Number(verdict.distinctRatio.toFixed(2)),
          maxPhraseRepeats: verdict.maxPhraseRepeats,
        }),
      );
    const copied = await this.#copiedTranscript(tx, facts, now);
    if (copied) flags.push(copied);
    return flags;
  }

  /** A transcript like one of the business's last 30 days; stores this one's signature. */
  async #copiedTranscript(tx: TransactionSql, facts: SessionFacts, now: Date): Promise<FraudFlag | undefined> {
    const signature = minhash(facts.transcript);
    if (signature.length === 0) return undefined;
    const lookback = new Date(now.getTime() - this.options.transcriptLookbackMs);
    const others = await tx<{ session_id: string; minhash: Uint8Array }[]>`
      select session_id, minhash from transcript_signatures
      where business_id = ${facts.businessId} and session_id <> ${facts.sessionId} and created_at > ${lookback}
      order by created_at desc limit 5000`;
    let flag: FraudFlag | undefined;
    for (const other of others) {
      const s = similarity(signature, decodeMinhash(other.minhash));
      if (s >= this.options.nearDuplicateSimilarity) {
        flag = fraud("near_duplicate_transcript", { sameAsSession: other.session_id, similarity: s });
        break;
      }
    }
    await tx`
      insert into transcript_signatures (session_id, business_id, minhash, created_at)
      values (${facts.sessionId}, ${facts.businessId}, ${encodeMinhash(signature)}, ${now})
      on conflict (session_id) do nothing`;
    return flag;
  }
}

/** Counts the flags of a committed decision in fraud_flags_total. */
export function countFlags(flags: FraudFlag[]): void {
  for (const f of flags) fraudFlagsTotal.inc({ rule: f.rule, severity: f.severity });
}

/**
 * Sessions with this device (or address) hash in the window up to this one's creation that
 * started (a customer joined them), this one included. A session begun but never joined (the
 * node turned the customer away) does not count. "Started" rather than "ended" or "decided":
 * sessions held open at once must count for each other whatever order they end in, and this
 * rule counts across businesses, whose decisions no one lock orders.
 */
async function countRunSessions(
  tx: TransactionSql,
  sessionId: string,
  column: "device_hash" | "ip_hash",
  hash: string,
  windowMs: number,
): Promise<number> {
  const window = `${windowMs} milliseconds`;
  // Times are compared in SQL against the session's own row: JS dates lose Postgres's microseconds.
  const [row] = await tx<{ n: number }[]>`
    select count(*)::int as n from sessions o, sessions me
    where me.id = ${sessionId} and o.${tx(column)} = ${hash} and (o.id = me.id or o.started_at is not null)
      and o.created_at > me.created_at - ${window}::interval and o.created_at <= me.created_at`;
  return row!.n;
}

const fraud = (rule: FraudRule, detail: FraudFlag["detail"]): FraudFlag => ({ rule, severity: "fraud", detail });
const quality = (rule: FraudRule, detail: FraudFlag["detail"]): FraudFlag => ({ rule, severity: "quality", detail });

// The fraud and quality rules, run once per conversation after it ended.
// 'fraud' flags (a second session for the same receipt, too many sessions from
// one device or IP, the same recording replayed, a transcript copied from
// another session, scripted talk) withhold the reward and count as
// feedback_sessions_total{status="fraud_detected"}; 'quality' flags (empty or
// off-topic feedback) withhold the reward without calling it fraud.
import type { Sql } from "postgres";
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
  readonly #sql: Sql;

  constructor(sql: Sql, options: FraudOptions) {
    this.#sql = sql;
    this.options = options;
  }

  /** Runs every rule, stores the flags (once per rule) and the session's fingerprints for later comparisons. */
  async check(facts: SessionFacts, now: Date): Promise<FraudFlag[]> {
    if (!this.options.enabled) return [];
    const o = this.options;
    const sql = this.#sql;
    const flags: FraudFlag[] = [];
    const flag = (rule: FraudRule, severity: FraudFlag["severity"], detail: FraudFlag["detail"]) =>
      flags.push({ rule, severity, detail });

    if (facts.receiptRef) {
      // Times are compared in SQL against the session's own row: JS dates lose Postgres's microseconds.
      const [earlier] = await sql<{ n: number }[]>`
        select count(*)::int as n from sessions o, sessions me
        where me.id = ${facts.sessionId} and o.business_id = me.business_id
          and (o.receipt_ref = ${facts.receiptRef} or o.receipt_hash = me.receipt_hash)
          and o.id <> me.id and o.begun_order < me.begun_order`;
      if (earlier!.n > 0) flag("duplicate_receipt", "fraud", { earlierSessions: earlier!.n });
    }
    const window = `${o.velocityWindowMs} milliseconds`;
    if (facts.deviceHash) {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from sessions o, sessions me
        where me.id = ${facts.sessionId} and o.device_hash = ${facts.deviceHash}
          and o.created_at > me.created_at - ${window}::interval and o.created_at <= me.created_at`;
      if (row!.n > o.maxSessionsPerDevice)
        flag("device_velocity", "fraud", {
          sessions: row!.n,
          max: o.maxSessionsPerDevice,
          windowMs: o.velocityWindowMs,
        });
    }
    if (facts.ipHash) {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from sessions o, sessions me
        where me.id = ${facts.sessionId} and o.ip_hash = ${facts.ipHash}
          and o.created_at > me.created_at - ${window}::interval and o.created_at <= me.created_at`;
      if (row!.n > o.maxSessionsPerIp)
        flag("ip_velocity", "fraud", { sessions: row!.n, max: o.maxSessionsPerIp, windowMs: o.velocityWindowMs });
    }

    if (facts.fingerprint && facts.fingerprint.values.length > 0) {
      const index = new FingerprintIndex(facts.fingerprint);
      // Fingerprints are voice data: the retention job removes them, which bounds this scan.
      const others = await sql<{ session_id: string; data: Uint8Array }[]>`
        select session_id, data from audio_fingerprints
        where business_id = ${facts.businessId} and session_id <> ${facts.sessionId}
        order by created_at desc limit 500`;
      for (const other of others) {
        const match = index.match(decodeFingerprint(other.data));
        if (match) {
          flag("replayed_audio", "fraud", {
            sameAsSession: other.session_id,
            bitErrorRate: Number(match.bitErrorRate.toFixed(3)),
            frames: match.comparedFrames,
          });
          break;
        }
      }
      await sql`
        insert into audio_fingerprints (session_id, business_id, frames, data, created_at)
        values (${facts.sessionId}, ${facts.businessId}, ${facts.fingerprint.values.length},
                ${encodeFingerprint(facts.fingerprint)}, ${now})
        on conflict (session_id) do nothing`;
    }

    const wordCount = words(facts.transcript).length;
    if (wordCount < o.minWords) flag("empty", "quality", { words: wordCount, min: o.minWords });
    else {
      if (facts.relevance !== undefined && facts.relevance < o.minRelevance)
        flag("off_topic", "quality", { relevance: Number(facts.relevance.toFixed(2)), min: o.minRelevance });
      const verdict = scripted(facts.transcript);
      if (verdict.scripted)
        flag("scripted", "fraud", {
          distinctRatio: Number(verdict.distinctRatio.toFixed(2)),
          maxPhraseRepeats: verdict.maxPhraseRepeats,
        });
      const signature = minhash(facts.transcript);
      if (signature.length > 0) {
        const lookback = new Date(now.getTime() - o.transcriptLookbackMs);
        const others = await sql<{ session_id: string; minhash: Uint8Array }[]>`
          select session_id, minhash from transcript_signatures
          where business_id = ${facts.businessId} and session_id <> ${facts.sessionId} and created_at > ${lookback}
          order by created_at desc limit 5000`;
        for (const other of others) {
          const s = similarity(signature, decodeMinhash(other.minhash));
          if (s >= o.nearDuplicateSimilarity) {
            flag("near_duplicate_transcript", "fraud", { sameAsSession: other.session_id, similarity: s });
            break;
          }
        }
        await sql`
          insert into transcript_signatures (session_id, business_id, minhash, created_at)
          values (${facts.sessionId}, ${facts.businessId}, ${encodeMinhash(signature)}, ${now})
          on conflict (session_id) do nothing`;
      }
    }

    for (const f of flags) {
      await sql`
        insert into fraud_flags (session_id, rule, severity, detail, created_at)
        values (${facts.sessionId}, ${f.rule}, ${f.severity}, ${sql.json(f.detail)}, ${now})
        on conflict (session_id, rule) do nothing`;
      fraudFlagsTotal.inc({ rule: f.rule, severity: f.severity });
    }
    return flags;
  }
}

// Converts mediasoup's parameter objects (identical in mediasoup and
// mediasoup-client) to and from their protobuf messages in ws.proto.
// Signalling is rare (a handful of messages per session), so clarity wins
// over speed here.
import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type DtlsParameters,
  DtlsParametersSchema,
  type IceCandidate,
  IceCandidateSchema,
  type IceParameters,
  IceParametersSchema,
  type RtpCapabilities,
  RtpCapabilitiesSchema,
  type RtpParameters,
  RtpParametersSchema,
} from "./gen/parley/ws/v1/ws_pb.ts";

type Params = Record<string, unknown>;

/** mediasoup's shapes, structurally (both mediasoup and mediasoup-client satisfy them). */
export interface MsDtlsParameters {
  role?: "auto" | "client" | "server";
  fingerprints: { algorithm: string; value: string }[];
}
export interface MsIceParameters {
  usernameFragment: string;
  password: string;
  iceLite?: boolean;
}
export interface MsIceCandidate {
  foundation: string;
  priority: number;
  address: string;
  ip?: string;
  protocol: "udp" | "tcp";
  port: number;
  type: "host" | "srflx" | "prflx" | "relay";
  tcpType?: "active" | "passive" | "so";
}
interface MsRtcpFeedback {
  type: string;
  parameter?: string;
}
export interface MsRtpCapabilities {
  codecs?: {
    kind: "audio" | "video";
    mimeType: string;
    preferredPayloadType?: number;
    clockRate: number;
    channels?: number;
    parameters?: Params;
    rtcpFeedback?: MsRtcpFeedback[];
  }[];
  headerExtensions?: {
    kind: "audio" | "video";
    uri: string;
    preferredId: number;
    preferredEncrypt?: boolean;
    direction?: string;
  }[];
}
export interface MsRtpParameters {
  mid?: string;
  codecs: {
    mimeType: string;
    payloadType: number;
    clockRate: number;
    channels?: number;
    parameters?: Params;
    rtcpFeedback?: MsRtcpFeedback[];
  }[];
  headerExtensions?: { uri: string; id: number; encrypt?: boolean; parameters?: Params }[];
  encodings?: {
    ssrc?: number;
    rid?: string;
    codecPayloadType?: number;
    rtx?: { ssrc: number };
    dtx?: boolean;
    scalabilityMode?: string;
    maxBitrate?: number;
  }[];
  rtcp?: { cname?: string; reducedSize?: boolean };
}

// ws.proto carries fmtp parameters as google.protobuf.Struct, which protobuf-es
// exposes as a plain JSON object: numbers stay numbers, strings stay strings.
const toStruct = (params: Params | undefined): JsonObject | undefined =>
  params && Object.keys(params).length > 0 ? (params as JsonObject) : undefined;
const fromStruct = (struct: JsonObject | undefined): Params => ({ ...(struct ?? {}) });
const optional = <T>(value: T | undefined | null, absent: T): T | undefined =>
  value === absent || value === null ? undefined : value;

export const dtlsToProto = (p: MsDtlsParameters): DtlsParameters =>
  create(DtlsParametersSchema, { role: p.role ?? "auto", fingerprints: p.fingerprints });
export const dtlsFromProto = (p: DtlsParameters | undefined): MsDtlsParameters => ({
  role: (p?.role || "auto") as MsDtlsParameters["role"],
  fingerprints: (p?.fingerprints ?? []).map(({ algorithm, value }) => ({ algorithm, value })),
});

export const iceParametersToProto = (p: MsIceParameters): IceParameters =>
  create(IceParametersSchema, { ...p, iceLite: p.iceLite ?? false });
export const iceParametersFromProto = (p: IceParameters | undefined): MsIceParameters => ({
  usernameFragment: p?.usernameFragment ?? "",
  password: p?.password ?? "",
  iceLite: p?.iceLite ?? false,
});

export const iceCandidateToProto = (c: MsIceCandidate): IceCandidate =>
  create(IceCandidateSchema, {
    foundation: c.foundation,
    priority: c.priority,
    address: c.address ?? c.ip ?? "",
    protocol: c.protocol,
    port: c.port,
    type: c.type,
    tcpType: c.tcpType ?? "",
  });
export const iceCandidateFromProto = (c: IceCandidate): MsIceCandidate => ({
  foundation: c.foundation,
  priority: c.priority,
  address: c.address,
  ip: c.address,
  protocol: c.protocol as MsIceCandidate["protocol"],
  port: c.port,
  type: c.type as MsIceCandidate["type"],
  ...(c.tcpType ? { tcpType: c.tcpType as MsIceCandidate["tcpType"] } : {}),
});

export const rtpCapabilitiesToProto = (caps: MsRtpCapabilities): RtpCapabilities =>
  create(RtpCapabilitiesSchema, {
    codecs: (caps.codecs ?? []).map((c) => ({
      kind: c.kind,
      mimeType: c.mimeType,
      preferredPayloadType: c.preferredPayloadType ?? 0,
      clockRate: c.clockRate,
      channels: c.channels ?? 0,
      parameters: toStruct(c.parameters),
      rtcpFeedback: (c.rtcpFeedback ?? []).map((f) => ({ type: f.type, parameter: f.parameter ?? "" })),
    })),
    headerExtensions: (caps.headerExtensions ?? []).map((h) => ({
      kind: h.kind,
      uri: h.uri,
      preferredId: h.preferredId,
      preferredEncrypt: h.preferredEncrypt ?? false,
      direction: h.direction ?? "",
    })),
  });

export const rtpCapabilitiesFromProto = (caps: RtpCapabilities | undefined): MsRtpCapabilities => ({
  codecs: (caps?.codecs ?? []).map((c) => ({
    kind: c.kind as "audio" | "video",
    mimeType: c.mimeType,
    preferredPayloadType: c.preferredPayloadType,
    clockRate: c.clockRate,
    ...(c.channels ? { channels: c.channels } : {}),
    parameters: fromStruct(c.parameters),
    rtcpFeedback: c.rtcpFeedback.map((f) => ({ type: f.type, parameter: f.parameter })),
  })),
  headerExtensions: (caps?.headerExtensions ?? []).map((h) => ({
    kind: h.kind as "audio" | "video",
    uri: h.uri,
    preferredId: h.preferredId,
    preferredEncrypt: h.preferredEncrypt,
    ...(h.direction ? { direction: h.direction } : {}),
  })),
});

export const rtpParametersToProto = (p: MsRtpParameters): RtpParameters =>
  create(RtpParametersSchema, {
    mid: p.mid ?? "",
    codecs: p.codecs.map((c) => ({
      mimeType: c.mimeType,
      payloadType: c.payloadType,
      clockRate: c.clockRate,
      channels: c.channels ?? 0,
      parameters: toStruct(c.parameters),
      rtcpFeedback: (c.rtcpFeedback ?? []).map((f) => ({ type: f.type, parameter: f.parameter ?? "" })),
    })),
    headerExtensions: (p.headerExtensions ?? []).map((h) => ({
      uri: h.uri,
      id: h.id,
      encrypt: h.encrypt ?? false,
      parameters: toStruct(h.parameters),
    })),
    encodings: (p.encodings ?? []).map((e) => ({
      ssrc: e.ssrc,
      rid: e.rid ?? "",
      codecPayloadType: e.codecPayloadType,
      rtxSsrc: e.rtx?.ssrc,
      dtx: e.dtx,
      scalabilityMode: e.scalabilityMode ?? "",
      maxBitrate: e.maxBitrate,
    })),
    rtcp: { cname: p.rtcp?.cname ?? "", reducedSize: p.rtcp?.reducedSize },
  });

export const rtpParametersFromProto = (p: RtpParameters | undefined): MsRtpParameters => ({
  ...(p?.mid ? { mid: p.mid } : {}),
  codecs: (p?.codecs ?? []).map((c) => ({
    mimeType: c.mimeType,
    payloadType: c.payloadType,
    clockRate: c.clockRate,
    ...(c.channels ? { channels: c.channels } : {}),
    parameters: fromStruct(c.parameters),
    rtcpFeedback: c.rtcpFeedback.map((f) =>
      f.parameter ? { type: f.type, parameter: f.parameter } : { type: f.type },
    ),
  })),
  headerExtensions: (p?.headerExtensions ?? []).map((h) => ({
    uri: h.uri,
    id: h.id,
    encrypt: h.encrypt,
    parameters: fromStruct(h.parameters),
  })),
  encodings: (p?.encodings ?? []).map((e) => ({
    ...(e.ssrc !== undefined ? { ssrc: e.ssrc } : {}),
    ...(e.rid ? { rid: e.rid } : {}),
    ...(e.codecPayloadType !== undefined ? { codecPayloadType: e.codecPayloadType } : {}),
    ...(e.rtxSsrc !== undefined ? { rtx: { ssrc: e.rtxSsrc } } : {}),
    ...(e.dtx !== undefined ? { dtx: e.dtx } : {}),
    ...(e.scalabilityMode ? { scalabilityMode: e.scalabilityMode } : {}),
    ...(e.maxBitrate !== undefined ? { maxBitrate: e.maxBitrate } : {}),
  })),
  rtcp: {
    ...(p?.rtcp?.cname ? { cname: p.rtcp.cname } : {}),
    ...(optional(p?.rtcp?.reducedSize, undefined) !== undefined ? { reducedSize: p?.rtcp?.reducedSize } : {}),
  },
});

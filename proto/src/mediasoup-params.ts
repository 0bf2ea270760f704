// Converts mediasoup's parameter objects (identical in mediasoup and
// mediasoup-client) to and from their protobuf messages in ws.proto.
// Signalling is rare (a handful of messages per session), so clarity wins
// over speed here.
import { create, type JsonObject } from "@bufbuild/protobuf";
import type { types as ms } from "mediasoup";
import { ErrorCode, ParleyError } from "./errors.ts";
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

/**
 * mediasoup's own parameter types. mediasoup-client declares the same
 * shapes, so the browser passes these to its Device unchanged.
 */
export type MsDtlsParameters = ms.DtlsParameters;
export type MsIceParameters = ms.IceParameters;
export type MsIceCandidate = ms.IceCandidate;
export type MsRtpCapabilities = ms.RtpCapabilities;
export type MsRtpParameters = ms.RtpParameters;

/**
 * What the *ToProto converters accept: mediasoup's shapes with header
 * extension URIs as plain strings, since mediasoup-client knows URIs that
 * mediasoup's union does not list.
 */
type StringUri<T extends { uri: string }> = Omit<T, "uri"> & { uri: string };
export type RtpCapabilitiesInput = Omit<MsRtpCapabilities, "headerExtensions"> & {
  headerExtensions?: StringUri<ms.RtpHeaderExtension>[];
};
export type RtpParametersInput = Omit<MsRtpParameters, "headerExtensions"> & {
  headerExtensions?: StringUri<ms.RtpHeaderExtensionParameters>[];
};

// Enumerations arrive as strings; unknown values are rejected here, at the seam.
const oneOf = <T extends string>(allowed: readonly T[], value: string, what: string): T => {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `unknown ${what} "${value}"`);
};
const KINDS = ["audio", "video"] as const;
const DTLS_ROLES = ["auto", "client", "server"] as const;
const ICE_PROTOCOLS = ["udp", "tcp"] as const;
// mediasoup itself only ever offers host candidates (passive for TCP).
const ICE_TYPES = ["host"] as const;
const TCP_TYPES = ["passive"] as const;
const DIRECTIONS = ["sendrecv", "sendonly", "recvonly", "inactive"] as const;
const FINGERPRINT_ALGORITHMS = ["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"] as const;
// Header extension URIs are an open set in practice: mediasoup ignores ones it does not know.
const uri = (value: string) => value as ms.RtpHeaderExtensionUri;

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
  role: oneOf(DTLS_ROLES, p?.role || "auto", "DTLS role"),
  fingerprints: (p?.fingerprints ?? []).map(({ algorithm, value }) => ({
    algorithm: oneOf(FINGERPRINT_ALGORITHMS, algorithm, "fingerprint algorithm"),
    value,
  })),
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
  protocol: oneOf(ICE_PROTOCOLS, c.protocol, "ICE protocol"),
  port: c.port,
  type: oneOf(ICE_TYPES, c.type, "ICE candidate type"),
  ...(c.tcpType ? { tcpType: oneOf(TCP_TYPES, c.tcpType, "ICE TCP type") } : {}),
});

export const rtpCapabilitiesToProto = (caps: RtpCapabilitiesInput): RtpCapabilities =>
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
    kind: oneOf(KINDS, c.kind, "media kind"),
    mimeType: c.mimeType,
    preferredPayloadType: c.preferredPayloadType,
    clockRate: c.clockRate,
    ...(c.channels ? { channels: c.channels } : {}),
    parameters: fromStruct(c.parameters),
    rtcpFeedback: c.rtcpFeedback.map((f) => ({ type: f.type, parameter: f.parameter })),
  })),
  headerExtensions: (caps?.headerExtensions ?? []).map((h) => ({
    kind: oneOf(KINDS, h.kind, "media kind"),
    uri: uri(h.uri),
    preferredId: h.preferredId,
    preferredEncrypt: h.preferredEncrypt,
    ...(h.direction ? { direction: oneOf(DIRECTIONS, h.direction, "header extension direction") } : {}),
  })),
});

export const rtpParametersToProto = (p: RtpParametersInput): RtpParameters =>
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
    uri: uri(h.uri),
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

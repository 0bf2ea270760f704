// Bridges protobuf-es service descriptors to @grpc/grpc-js, so gRPC uses the
// generated types directly: no second, hand-written copy of the messages.
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { encodeRecognizeRequestFast } from "./asrAudioWire.ts";
import type { RecognizeRequest } from "./gen/parley/asr/v1/asr_pb.ts";

/**
 * Hand encoders for the messages sent per audio frame, by type name. Each
 * returns undefined for a message it does not cover (protobuf-es encodes it).
 */
const FAST_ENCODERS: Record<string, (value: never) => Buffer | undefined> = {
  "parley.asr.v1.RecognizeRequest": (value: RecognizeRequest) => encodeRecognizeRequestFast(value),
};

function serializerFor<D extends DescMessage>(schema: D) {
  const fast = FAST_ENCODERS[schema.typeName] as ((value: MessageShape<D>) => Buffer | undefined) | undefined;
  return {
    serialize: (value: MessageShape<D>): Buffer => {
      const encoded = fast?.(value);
      if (encoded) return encoded;
      const bytes = toBinary(schema, value);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (bytes: Buffer): MessageShape<D> => fromBinary(schema, bytes),
  };
}

/** grpc-js service definition for a protobuf-es generated service. */
export function grpcServiceDefinition<T extends GenServiceMethods>(service: GenService<T>): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const input = serializerFor(method.input);
    const output = serializerFor(method.output);
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: input.serialize as (value: unknown) => Buffer,
      requestDeserialize: input.deserialize,
      responseSerialize: output.serialize as (value: unknown) => Buffer,
      responseDeserialize: output.deserialize,
    };
  }
  return definition as ServiceDefinition;
}

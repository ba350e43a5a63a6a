import type * as grpc from '@grpc/grpc-js';

const passThrough = (b: Buffer): Buffer => b;

/**
 * A unary OTLP Export method that carries raw bytes both ways: the caller decodes (and reports its own
 * decoding errors) and encodes its answer. Used by the receiver and by the test and bench servers.
 */
export function rawExportMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  };
}

/**
 * The downstream of `npm run bench:ingest -- --servers forwarding`: a Collector-like OTLP/gRPC endpoint
 * that accepts every TraceService and LogsService Export at once without decoding it (the cheapest
 * downstream, so the figure is runledger's cost of forwarding, not the sink's).
 *
 *   node dist-bench/bench/otlp-sink.js [--port 0]
 *
 * Prints one JSON line `{"msg":"sink listening","port":N}` when ready; SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { LOGS_SERVICE_EXPORT_PATH, TRACE_SERVICE_EXPORT_PATH } from '../src/otlp/proto.js';
import { rawExportMethod } from '../src/otlp/raw-grpc-method.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const EMPTY_RESPONSE = Buffer.alloc(0); // an Export response with no partial_success
const accept = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, EMPTY_RESPONSE);

const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
for (const path of [TRACE_SERVICE_EXPORT_PATH, LOGS_SERVICE_EXPORT_PATH]) {
  server.addService(
    { Export: rawExportMethod(path) },
    { Export: accept },
  );
}

server.bindAsync(`127.0.0.1:${values.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ msg: 'sink listening', port })}\n`);
});

process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));

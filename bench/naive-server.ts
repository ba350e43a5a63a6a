/**
 * The naive baseline for `npm run bench:ingest`: what an OTLP receiver written the obvious way does.
 * grpc-js server; protobufjs reflection decodes the whole ExportTraceServiceRequest, `toObject` turns it
 * into plain JS (longs as strings, bytes as base64), each span is `JSON.stringify`-ed and inserted with
 * its own INSERT, one transaction (one commit) per request, SQLite WAL with the same `synchronous`.
 *
 *   node dist-bench/bench/naive-server.js --db FILE [--synchronous full|normal] [--port 0]
 *
 * Prints one JSON line `{"msg":"naive listening","port":N}` when ready; SIGTERM stops it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import BetterSqlite3 from 'better-sqlite3';
import { ExportTraceServiceRequest, TRACE_SERVICE_EXPORT_PATH } from '../src/otlp/proto.js';
import { rawExportMethod } from '../src/otlp/raw-grpc-method.js';

interface SpanObject {
  traceId?: string;
  spanId?: string;
}
interface RequestObject {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: SpanObject[] }> }>;
}

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    synchronous: { type: 'string', default: 'full' },
    port: { type: 'string', default: '0' },
  },
});
if (values.db === undefined) throw new Error('--db is required');
if (values.synchronous !== 'full' && values.synchronous !== 'normal') throw new Error('--synchronous must be full or normal');

mkdirSync(dirname(values.db), { recursive: true });
const db = new BetterSqlite3(values.db);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${values.synchronous.toUpperCase()}`);
db.exec(`
  CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id, span_id);
`);
const insert = db.prepare('INSERT OR IGNORE INTO spans (trace_id, span_id, body) VALUES (?, ?, ?)');
const storeRequest = db.transaction((request: RequestObject) => {
  for (const rs of request.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) insert.run(span.traceId ?? '', span.spanId ?? '', JSON.stringify(span));
    }
  }
});

const EMPTY_RESPONSE = Buffer.alloc(0); // an ExportTraceServiceResponse with no partial_success

const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
server.addService(
  {
    Export: rawExportMethod(TRACE_SERVICE_EXPORT_PATH),
  },
  {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      let request: RequestObject;
      try {
        const message = ExportTraceServiceRequest.decode(call.request);
        request = ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String }) as RequestObject;
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
        return;
      }
      try {
        storeRequest(request);
      } catch (err) {
        callback({ code: grpc.status.UNAVAILABLE, details: (err as Error).message });
        return;
      }
      callback(null, EMPTY_RESPONSE);
    },
  },
);

server.bindAsync(`127.0.0.1:${values.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ msg: 'naive listening', port })}\n`);
});

process.on('SIGTERM', () => {
  server.tryShutdown(() => {
    db.close();
    process.exit(0);
  });
});

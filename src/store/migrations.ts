/**
 * Versioned schema migrations, applied in order inside one transaction each; `PRAGMA user_version`
 * records the last applied. Never edit a released migration: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: durable intake. Span bodies are the exact OTLP Span encoding; resources and scopes are stored
  // once each (deduplicated by digest) and referenced, since every span of a request shares them.
  `
  CREATE TABLE resources (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL,
    schema_url TEXT NOT NULL
  );
  CREATE TABLE scopes (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL,
    schema_url TEXT NOT NULL
  );
  CREATE TABLE spans (
    id INTEGER PRIMARY KEY,
    run_key TEXT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    resource_id INTEGER NOT NULL REFERENCES resources(id),
    scope_id INTEGER NOT NULL REFERENCES scopes(id),
    body BLOB NOT NULL,
    received_ns INTEGER NOT NULL
  );
  -- An exporter that retries after a lost answer resends spans: keep the first copy.
  CREATE UNIQUE INDEX spans_by_trace ON spans(trace_id, span_id);
  CREATE INDEX spans_by_run ON spans(run_key) WHERE run_key IS NOT NULL;
  CREATE INDEX spans_pending ON spans(received_ns) WHERE run_key IS NULL;
  `,
];

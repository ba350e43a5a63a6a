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
    received_ns INTEGER NOT NULL,
    -- JSON list of values erased before storage (span, scope, resource), NULL when none.
    redactions TEXT
  );
  -- No index keyed by span or trace id: ids are random, so each insert would dirty a random index
  -- page and every group commit would write megabytes. Spans are found by run (clustered), pending
  -- ones by trace (few), and traces by the small trace_runs table (one row per trace and run).
  -- A span an exporter resent after a lost answer is stored twice and read once, the first copy
  -- (see RunStore.loadRun).
  CREATE INDEX spans_by_run ON spans(run_key, start_ns) WHERE run_key IS NOT NULL;
  CREATE INDEX spans_pending ON spans(trace_id) WHERE run_key IS NULL;
  CREATE TABLE trace_runs (
    trace_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    PRIMARY KEY (trace_id, run_key)
  ) WITHOUT ROWID;
  CREATE INDEX trace_runs_by_run ON trace_runs(run_key);
  `,
  // 2: runs. `runs` is the mutable index of each run (open or evaluated, with its latest summary);
  // `run_revisions` is append-only history: every evaluation adds a revision, none is rewritten.
  `
  CREATE TABLE runs (
    run_key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('open', 'evaluated')),
    first_received_ns INTEGER NOT NULL,
    last_received_ns INTEGER NOT NULL,
    has_root INTEGER NOT NULL DEFAULT 0,
    span_count INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL DEFAULT 0,
    workflow TEXT,
    kind TEXT,
    status TEXT,
    outcome TEXT,
    actor_id TEXT,
    definition TEXT,
    started_ns INTEGER,
    ended_ns INTEGER,
    evaluated_ns INTEGER
  );
  CREATE INDEX runs_open ON runs(first_received_ns) WHERE state = 'open';
  -- Listing is newest first, optionally filtered by one of these columns.
  CREATE INDEX runs_by_started ON runs(started_ns, run_key) WHERE revision > 0;
  CREATE INDEX runs_by_status ON runs(status, started_ns, run_key) WHERE revision > 0;
  CREATE INDEX runs_by_workflow ON runs(workflow, started_ns, run_key) WHERE revision > 0;
  CREATE INDEX runs_by_kind ON runs(kind, started_ns, run_key) WHERE revision > 0;
  CREATE INDEX runs_by_actor ON runs(actor_id, started_ns, run_key) WHERE revision > 0;
  CREATE INDEX runs_by_evaluated ON runs(evaluated_ns) WHERE state = 'evaluated';
  CREATE TABLE run_revisions (
    run_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    evaluated_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_key, revision)
  ); -- not WITHOUT ROWID: records span several pages, and a keyed lookup would read them all
  CREATE INDEX run_revisions_by_time ON run_revisions(evaluated_ns);
  CREATE TABLE run_findings (
    run_key TEXT NOT NULL,
    revision INTEGER NOT NULL,
    code TEXT NOT NULL,
    started_ns INTEGER,
    PRIMARY KEY (code, run_key, revision)
  ) WITHOUT ROWID;
  CREATE INDEX run_findings_by_started ON run_findings(code, started_ns, run_key);
  -- Keys a run used, so a later run that uses them again is caught (replay, reused approval).
  -- The first run to claim a key (smallest claimed_ns) is the original; later claimants replay it.
  CREATE TABLE trigger_events (
    event_key TEXT NOT NULL,
    run_key TEXT NOT NULL,
    claimed_ns INTEGER NOT NULL,
    PRIMARY KEY (event_key, run_key)
  ) WITHOUT ROWID;
  CREATE TABLE decision_ids (
    decision_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    claimed_ns INTEGER NOT NULL,
    PRIMARY KEY (decision_id, run_key)
  ) WITHOUT ROWID;

  `,
  // 3: integrity. `chain` is an append-only hash chain over run revisions and lifecycle records
  // (DESIGN §7); rows are never deleted, pruning only removes run data and says so in a signed row.
  `
  CREATE TABLE chain (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    run_key TEXT,
    revision INTEGER,
    created_ns INTEGER NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    key_id TEXT,
    signature TEXT
  );
  CREATE INDEX chain_by_run ON chain(run_key, revision) WHERE run_key IS NOT NULL;
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    origin TEXT NOT NULL,
    key_id TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  `,
  // 4: re-exports. What the last judgement of a run saw, so a run that got only copies of spans it
  // already had (an exporter's retry after a lost answer) is not judged again: the first copy stands.
  `
  ALTER TABLE runs ADD COLUMN judged_spans INTEGER;
  ALTER TABLE runs ADD COLUMN duplicate_spans INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: forwarding (exporters.otlp). One cursor per stream: the last spans.id or chain.seq sent downstream.
  // Span ids only grow (SpanIntake never reuses one, even after the newest rows were deleted), so a
  // cursor never passes a span that commits later.
  `
  CREATE TABLE forward_cursors (
    stream TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

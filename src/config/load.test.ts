import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { DEFAULT_FIELD_KEYS, resolveFieldKeys } from '../evidence/fields.js';
import { configPath, loadConfig, parseConfig } from './load.js';

function writeConfig(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'runledger-config-')), 'runledger.yaml');
  writeFileSync(path, text);
  return path;
}

/** The problems of the ConfigError thrown by `load`, failing the test when it does not throw one. */
function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the config was accepted');
}

describe('parseConfig', () => {
  it('fills every section with its defaults from an empty document', () => {
    const config = parseConfig({});

    expect(config.receiver.otlp_grpc).toEqual({
      endpoint: 'localhost:4317',
      max_recv_msg_size_mib: 4,
      max_concurrent_requests: 64,
      retry_delay_ms: 1000,
    });
    expect(config.http.endpoint).toBe('localhost:4320');
    expect(config.storage.sqlite).toEqual({ path: './data/runledger.db', synchronous: 'full', busy_timeout_ms: 5000 });
    expect(config.runs).toEqual({ settle_ms: 2000, max_open_ms: 300_000, max_open_runs: 100_000, max_spans_per_run: 10_000 });
    expect(config.filter).toEqual({ include: [], exclude: [], pending_ttl_ms: 600_000, max_tracked_traces: 200_000 });
    expect(config.evidence.fields).toEqual({});
    expect(config.telemetry.logs.level).toBe('info');
  });

  it('leaves forwarding off by default, and reports its TLS mistakes by YAML path', () => {
    expect(parseConfig({}).exporters.otlp).toMatchObject({ compression: 'gzip', forward_unmatched: true, verdicts: false });
    expect(parseConfig({}).exporters.otlp.endpoint).toBeUndefined();
    expect(
      problemsOf(() =>
        parseConfig({ exporters: { otlp: { endpoint: 'collector:4317', tls: { cert_file: 'client.pem' }, timeout_ms: 0 } } }),
      ),
    ).toEqual(['exporters.otlp.tls: cert_file and key_file go together', 'exporters.otlp.timeout_ms: Too small: expected number to be >0']);
    expect(problemsOf(() => parseConfig({ exporters: { otlp: { tls: { insecure: true, ca_file: 'ca.pem' } } } }))).toEqual([
      'exporters.otlp.tls: insecure: true sends plaintext: drop ca_file, cert_file and key_file',
    ]);
  });

  it('wants host:port with protocol grpc and a base URL with http/protobuf, whose scheme decides TLS', () => {
    const otlp = (options: Record<string, unknown>) => parseConfig({ exporters: { otlp: options } }).exporters.otlp;
    expect(otlp({ endpoint: 'collector:4317' }).protocol).toBe('grpc');
    expect(otlp({ protocol: 'http/protobuf', endpoint: 'https://gateway.example/otlp' }).endpoint).toBe('https://gateway.example/otlp');
    expect(otlp({ protocol: 'http/protobuf', endpoint: 'http://collector:4318', tls: { insecure: true } }).tls.insecure).toBe(true);
    const problems = (options: Record<string, unknown>) => problemsOf(() => otlp(options));
    expect(problems({ endpoint: 'http://collector:4318' })).toEqual([
      'exporters.otlp.endpoint: is a URL: with protocol grpc it is host:port (e.g. otel-collector:4317); for OTLP/HTTP set protocol: http/protobuf',
    ]);
    expect(problems({ protocol: 'http/protobuf', endpoint: 'collector:4318', timeout_ms: 0 })).toEqual([
      'exporters.otlp.timeout_ms: Too small: expected number to be >0',
      'exporters.otlp.endpoint: with protocol http/protobuf it is a base URL http(s)://host:port[/prefix], e.g. http://otel-collector:4318 (exports go to <endpoint>/v1/traces and /v1/logs)',
    ]);
    expect(problems({ protocol: 'http/protobuf', endpoint: 'https://user:pw@collector:4318' })).toEqual([
      'exporters.otlp.endpoint: must not hold a query, fragment or credentials (send credentials with auth.bearer_token_file or headers)',
    ]);
    expect(problems({ protocol: 'http/protobuf', endpoint: 'https://collector:4318', tls: { insecure: true } })).toEqual([
      'exporters.otlp.tls.insecure: with protocol http/protobuf the URL scheme decides: https:// is TLS; use http:// for plaintext',
    ]);
    expect(problems({ protocol: 'http/protobuf', endpoint: 'http://collector:4318', tls: { ca_file: 'ca.pem', server_name_override: 'c' } })).toEqual([
      'exporters.otlp.tls: an http:// endpoint is plaintext: use https:// or drop ca_file, server_name_override',
    ]);
    expect(problems({ protocol: 'http/json', endpoint: 'http://collector:4318' })).toEqual([
      'exporters.otlp.protocol: Invalid option: expected one of "grpc"|"http/protobuf"',
    ]);
  });

  it('treats an empty YAML document (null) as all defaults', () => {
    expect(parseConfig(null)).toEqual(parseConfig({}));
  });

  it('names an unknown key by its dotted YAML path', () => {
    expect(problemsOf(() => parseConfig({ receiver: { otlp_grpc: { endpont: '0.0.0.0:4317' } } }))).toEqual([
      'receiver.otlp_grpc.endpont: unknown key',
    ]);
  });

  it('rejects unknown keys at the top level, in nested sections and inside list items', () => {
    const problems = problemsOf(() =>
      parseConfig({
        recevier: {},
        storage: { sqlite: { pth: 'x.db' } },
        telemetry: { logs: { level: 'info', format: 'json' } },
        filter: { include: [{ attribute: 'nhi.workflow.name', atribute: 'typo' }] },
        evidence: { fields: { 'run.id': { keyz: ['a'] } } },
      }),
    );

    expect(problems).toEqual(
      expect.arrayContaining([
        'recevier: unknown key',
        'storage.sqlite.pth: unknown key',
        'telemetry.logs.format: unknown key',
        'filter.include.0.atribute: unknown key',
        'evidence.fields.run.id.keyz: unknown key',
      ]),
    );
  });

  it('rejects an evidence field name that does not exist', () => {
    expect(problemsOf(() => parseConfig({ evidence: { fields: { 'run.idd': { keys: ['x'] } } } }))).toEqual([
      'evidence.fields.run.idd: unknown key',
    ]);
  });

  it('lists every problem with its YAML path in one error', () => {
    const problems = problemsOf(() =>
      parseConfig({
        receiver: { otlp_grpc: { max_concurrent_requests: 0, endpont: 'x' } },
        storage: { sqlite: { busy_timeout_ms: -1, synchronous: 'off' } },
        filter: { exclude: [{ equals: 'healthcheck' }] },
      }),
    );

    const paths = problems.map((p) => p.slice(0, p.indexOf(':')));
    expect(paths).toEqual(
      expect.arrayContaining([
        'receiver.otlp_grpc.max_concurrent_requests',
        'receiver.otlp_grpc.endpont',
        'storage.sqlite.busy_timeout_ms',
        'storage.sqlite.synchronous',
        'filter.exclude.0',
        'filter.exclude.0.equals',
      ]),
    );
  });

  it('puts every problem in the error message, one per line', () => {
    try {
      parseConfig({ http: { endpoint: 'nowhere' }, runs: { settle_ms: 1.5 } }, 'test.yaml');
      expect.unreachable('the config should have been rejected');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const error = err as ConfigError;
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(/^invalid configuration in test\.yaml:\n/);
      for (const problem of error.problems) expect(error.message).toContain(problem);
      expect(error.problems.some((p) => p.startsWith('http.endpoint: '))).toBe(true);
      expect(error.problems.some((p) => p.startsWith('runs.settle_ms: '))).toBe(true);
    }
  });

  // Regression guard (fixed bug in src/config/endpoint.ts): the port refine also runs when the regex failed, so an endpoint
  // without a port gets a second, misleading problem "port must be at most 65535".
  it('reports an endpoint without a port once, as not host:port', () => {
    expect(problemsOf(() => parseConfig({ http: { endpoint: 'nowhere' } }))).toEqual([
      'http.endpoint: must be host:port, e.g. localhost:4317 or 0.0.0.0:4317',
    ]);
  });

  it('rejects a port above 65535', () => {
    expect(problemsOf(() => parseConfig({ http: { endpoint: 'localhost:70000' } }))).toEqual([
      'http.endpoint: port must be at most 65535',
    ]);
  });

  it('returns a deeply frozen config, its lists excepted (V8 walks frozen arrays slowly, and some are walked per span)', () => {
    const config = parseConfig({ filter: { include: [{ span_name_prefix: 'deploy' }] } });

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.receiver.otlp_grpc)).toBe(true);
    expect(Object.isFrozen(config.filter.include)).toBe(false);
    expect(Object.isFrozen(config.filter.include[0])).toBe(true);
    expect(() => {
      (config.receiver.otlp_grpc as { endpoint: string }).endpoint = '0.0.0.0:1';
    }).toThrow(TypeError);
  });

  it('resolves evidence.fields keys (replace) and add_keys (looked up first) for resolveFieldKeys', () => {
    const config = parseConfig({
      evidence: {
        fields: {
          'run.id': { keys: ['ci.run'] },
          'actor.id': { add_keys: ['my.actor', 'nhi.actor.id'] },
        },
      },
    });

    const keys = resolveFieldKeys(config.evidence.fields);

    expect(keys['run.id']).toEqual(['ci.run']);
    // add_keys come first and duplicates of the defaults are not repeated.
    expect(keys['actor.id']).toEqual(['my.actor', 'nhi.actor.id', 'gen_ai.agent.id']);
    expect(keys['run.workflow']).toEqual(DEFAULT_FIELD_KEYS['run.workflow']);
  });

  it('refuses a profile constraint whose CEL does not parse, naming its YAML path', () => {
    const problems = problemsOf(() =>
      parseConfig({ evidence: { profiles: { credential_purge: { constraints: [{ expression: 'attributes["nhi.credentials.active"] ==', message: 'none left' }] } } } }),
    );

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^evidence\.profiles\.credential_purge\.constraints\.0\.expression: invalid CEL: \S/);
  });

  it('reports every unparsable CEL expression of the profiles at once, built-in overrides included', () => {
    const problems = problemsOf(() =>
      parseConfig({
        evidence: {
          profiles: {
            jit_access: { required_changes: [{ operation: 'grant' }, { operation: 'revoke', expect: 'status == ' }] },
            credential_purge: {
              constraints: [
                { expression: 'run["trigger.kind"] == "manual"', message: 'by hand' },
                { expression: 'steps.exists(s, s.operation == "delete"', message: 'never deletes' },
              ],
            },
          },
        },
      }),
    );

    expect(problems.map((p) => p.slice(0, p.indexOf(': invalid CEL: ')))).toEqual([
      'evidence.profiles.jit_access.required_changes.1.expect',
      'evidence.profiles.credential_purge.constraints.1.expression',
    ]);
  });

  it('checks CEL against the variables each expression sees: a misspelled variable, an unknown function or a non-bool is refused', () => {
    const problems = problemsOf(() =>
      parseConfig({
        evidence: {
          profiles: {
            credential_purge: {
              required_changes: [
                { operation: 'verify', expect: 'attributes["nhi.credentials.active"] == 0 && status != "error" && name != ""' },
                { operation: 'delete', expect: 'run["run.result"] == "success"' },
              ],
              constraints: [
                { expression: 'run["trigger.kind"] == "manual" || steps.exists(s, s.operation == "delete" && s.succeeded) || has(attributes.x)', message: 'ok' },
                { expression: 'attribute["nhi.credentials.active"] == 0', message: 'misspelled' },
                { expression: 'purged(steps)', message: 'unknown function' },
                { expression: 'size(steps)', message: 'not a bool' },
              ],
            },
          },
        },
      }),
    );

    // `run` is not a variable of expect, which sees only the attempt's attributes, name and status.
    expect(problems).toEqual([
      expect.stringMatching(/^evidence\.profiles\.credential_purge\.required_changes\.1\.expect: invalid CEL: .*\brun\b/),
      expect.stringMatching(/^evidence\.profiles\.credential_purge\.constraints\.1\.expression: invalid CEL: .*\battribute\b/),
      expect.stringMatching(/^evidence\.profiles\.credential_purge\.constraints\.2\.expression: invalid CEL: .*\bpurged\b/),
      'evidence.profiles.credential_purge.constraints.3.expression: invalid CEL: the expression gives int, not a bool',
    ]);
  });

  it('names a profile\'s unknown key and a required field that is no evidence field by their YAML paths', () => {
    const problems = problemsOf(() =>
      parseConfig({ evidence: { profiles: { credential_purge: { required_feilds: ['actor.id'], required_fields: ['actor.name'] } } } }),
    );

    expect(problems.map((p) => p.slice(0, p.indexOf(':')))).toEqual(
      expect.arrayContaining(['evidence.profiles.credential_purge.required_feilds', 'evidence.profiles.credential_purge.required_fields.0']),
    );
    expect(problems).toHaveLength(2);
  });

  it('rejects an empty keys list for an evidence field', () => {
    expect(problemsOf(() => parseConfig({ evidence: { fields: { 'run.id': { keys: [] } } } }))[0]).toMatch(
      /^evidence\.fields\.run\.id\.keys: /,
    );
  });
});

describe('loadConfig', () => {
  it('uses all defaults when no file is given', () => {
    expect(loadConfig(undefined, {})).toEqual(parseConfig({}));
  });

  it('reads the YAML file', () => {
    const path = writeConfig('receiver:\n  otlp_grpc:\n    endpoint: 0.0.0.0:4317\n    retry_delay_ms: 250\n');

    const config = loadConfig(path, {});

    expect(config.receiver.otlp_grpc.endpoint).toBe('0.0.0.0:4317');
    expect(config.receiver.otlp_grpc.retry_delay_ms).toBe(250);
  });

  it('lets RUNLEDGER_OTLP_GRPC_ENDPOINT, RUNLEDGER_HTTP_ENDPOINT and RUNLEDGER_DB_PATH override the file', () => {
    const path = writeConfig(
      [
        'receiver:',
        '  otlp_grpc:',
        '    endpoint: localhost:1111',
        '    retry_delay_ms: 250',
        'http:',
        '  endpoint: localhost:2222',
        'storage:',
        '  sqlite:',
        '    path: from-file.db',
        '    busy_timeout_ms: 10',
        '',
      ].join('\n'),
    );

    const config = loadConfig(path, {
      RUNLEDGER_OTLP_GRPC_ENDPOINT: '0.0.0.0:4317',
      RUNLEDGER_HTTP_ENDPOINT: '0.0.0.0:4320',
      RUNLEDGER_DB_PATH: '/var/lib/runledger/runledger.db',
    });

    expect(config.receiver.otlp_grpc.endpoint).toBe('0.0.0.0:4317');
    expect(config.http.endpoint).toBe('0.0.0.0:4320');
    expect(config.storage.sqlite.path).toBe('/var/lib/runledger/runledger.db');
    // Keys next to the overridden ones keep their file values.
    expect(config.receiver.otlp_grpc.retry_delay_ms).toBe(250);
    expect(config.storage.sqlite.busy_timeout_ms).toBe(10);
  });

  it('applies env overrides when there is no file', () => {
    const config = loadConfig(undefined, { RUNLEDGER_DB_PATH: '/tmp/x.db' });

    expect(config.storage.sqlite.path).toBe('/tmp/x.db');
  });

  it('ignores an env override that is set but empty', () => {
    const path = writeConfig('http:\n  endpoint: localhost:2222\n');

    expect(loadConfig(path, { RUNLEDGER_HTTP_ENDPOINT: '' }).http.endpoint).toBe('localhost:2222');
  });

  it('validates an env override under the key it overrides', () => {
    expect(problemsOf(() => loadConfig(undefined, { RUNLEDGER_OTLP_GRPC_ENDPOINT: 'localhost:99999' }))).toEqual([
      'receiver.otlp_grpc.endpoint: port must be at most 65535',
    ]);
  });

  it('reports a YAML syntax error as a ConfigError', () => {
    const path = writeConfig('receiver: [\n');

    const problems = problemsOf(() => loadConfig(path, {}));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^YAML: /);
  });

  it('reports a duplicated key as a ConfigError', () => {
    const path = writeConfig('http:\n  endpoint: localhost:1\nhttp:\n  endpoint: localhost:2\n');

    expect(problemsOf(() => loadConfig(path, {}))[0]).toMatch(/^YAML: Map keys must be unique/);
  });

  it('reports a missing file as a ConfigError naming the file', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'runledger-config-')), 'missing.yaml');

    try {
      loadConfig(path, {});
      expect.unreachable('a missing file should be rejected');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(path);
      expect((err as ConfigError).problems[0]).toMatch(/^cannot read file: /);
    }
  });

  it('refuses an invalid CEL expression in the file by its YAML path', () => {
    const path = writeConfig(
      [
        'evidence:',
        '  profiles:',
        '    deprovisioning:',
        '      required_changes:',
        '        - operation: verify',
        "          expect: 'int(attributes[\"nhi.credentials.active\"]) == 0 &&'",
        '',
      ].join('\n'),
    );

    const problems = problemsOf(() => loadConfig(path, {}));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^evidence\.profiles\.deprovisioning\.required_changes\.0\.expect: invalid CEL: \S/);
  });

  it('reports unknown keys from the file by their YAML path', () => {
    const path = writeConfig('receiver:\n  otlp_grpc:\n    endpont: 0.0.0.0:4317\n');

    expect(problemsOf(() => loadConfig(path, {}))).toEqual(['receiver.otlp_grpc.endpont: unknown key']);
  });

  it('treats an empty file as all defaults', () => {
    expect(loadConfig(writeConfig(''), {})).toEqual(parseConfig({}));
  });

  // Regression guard (fixed bug in src/config/load.ts applyEnvOverrides): a document that is not a mapping is replaced by {}
  // before validation, so a file holding a list or a scalar silently loads as all defaults.
  it('rejects a file whose top level is a list instead of a mapping', () => {
    const path = writeConfig('- receiver\n- http\n');

    expect(problemsOf(() => loadConfig(path, {}))).toEqual(['(root): Invalid input: expected object, received array']);
  });

  it('rejects a file whose top level is a scalar instead of a mapping', () => {
    const path = writeConfig('receiver\n');

    expect(problemsOf(() => loadConfig(path, {}))).toHaveLength(1);
  });

  it('returns a frozen config', () => {
    const config = loadConfig(writeConfig('http:\n  endpoint: localhost:1\n'), { RUNLEDGER_DB_PATH: '/tmp/x.db' });

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.storage.sqlite)).toBe(true);
  });
});

describe('configPath', () => {
  it('prefers the --config flag over RUNLEDGER_CONFIG', () => {
    expect(configPath('flag.yaml', { RUNLEDGER_CONFIG: 'env.yaml' })).toBe('flag.yaml');
  });

  it('falls back to RUNLEDGER_CONFIG without a flag', () => {
    expect(configPath(undefined, { RUNLEDGER_CONFIG: 'env.yaml' })).toBe('env.yaml');
  });

  it('means all defaults when neither is set or RUNLEDGER_CONFIG is empty', () => {
    expect(configPath(undefined, {})).toBeUndefined();
    expect(configPath(undefined, { RUNLEDGER_CONFIG: '' })).toBeUndefined();
  });
});

import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { redactionConfigSchema, type RedactionConfig } from '../redaction/config.js';
import { createRedactor, MAX_NESTING_DEPTH, type Redaction, type Redactor } from '../redaction/redactor.js';
import { toAttributes, type KeyValueMessage } from './attributes.js';
import { InstrumentationScope, Resource, Span } from './proto.js';
import { redactEncodedResource, redactEncodedScope, redactEncodedSpan } from './redact-encoded.js';

const HMAC_KEY = Buffer.alloc(32, 7);
const OTHER_HMAC_KEY = Buffer.alloc(32, 9);
const CONFIG: RedactionConfig = redactionConfigSchema.parse({
  keys: ['*.opaque'],
  patterns: ['\\b(?:\\d{4}-){3}\\d{4}\\b'],
});
const redactor = createRedactor(CONFIG, HMAC_KEY);

/** Deterministic "random" text, so a failure reproduces. */
function generator(seed: string): (alphabet: string, length: number) => string {
  let counter = 0;
  return (alphabet, length) => {
    let out = '';
    while (out.length < length) {
      for (const byte of createHash('sha256').update(`${seed}:${counter++}`).digest()) {
        if (out.length < length) out += alphabet[byte % alphabet.length];
      }
    }
    return out;
  };
}
const random = generator('runledger-redaction-corpus');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BASE64 = `${ALNUM}+/`;
const BASE64URL = `${ALNUM}-_`;
const HEX = '0123456789abcdef';
const DIGITS = '0123456789';

function jwt(payload: Record<string, unknown>, secret: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const EC_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const OPENSSH_PEM = `-----BEGIN OPENSSH PRIVATE KEY-----\n${random(BASE64, 70)}\n${random(BASE64, 70)}\n-----END OPENSSH PRIVATE KEY-----\n`;
const GCP_SERVICE_ACCOUNT = JSON.stringify({
  type: 'service_account',
  project_id: 'acme-deploy',
  private_key_id: random(HEX, 40),
  private_key: EC_PEM,
  client_email: 'deployer@acme-deploy.iam.gserviceaccount.com',
  client_id: random(DIGITS, 21),
});

type AnyValueObject = Record<string, unknown>;
const str = (stringValue: string): AnyValueObject => ({ stringValue });

interface CorpusEntry {
  readonly key: string;
  readonly value: AnyValueObject;
  /** What must not remain in the encoded bytes. */
  readonly clear: string;
  readonly reason: string;
}

function secret(key: string, clear: string, reason: string): CorpusEntry {
  return { key, value: str(clear), clear, reason };
}

const SECRETS: readonly CorpusEntry[] = [
  secret('deploy.signing.material', RSA_PEM, 'private_key'),
  secret('nhi.ssh.identity', EC_PEM, 'private_key'),
  secret('nhi.ssh.agent_dump', OPENSSH_PEM, 'private_key'),
  { key: 'nhi.blob', value: { bytesValue: Buffer.from(RSA_PEM) }, clear: RSA_PEM.split('\n')[5]!, reason: 'private_key' },
  secret('nhi.oidc.assertion', jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:acme/payments:ref:refs/heads/main', exp: 1764003600 }, random(ALNUM, 32)), 'jwt'),
  secret('http.request.header.authorization', `Bearer ${random(BASE64URL, 43)}`, 'bearer_token'),
  secret('http.request.header.proxy-authorization', `Basic ${Buffer.from(`svc-deployer:${random(ALNUM, 20)}`).toString('base64')}`, 'basic_auth'),
  secret('aws.access_key_id', `AKIA${random(UPPER_DIGITS, 16)}`, 'aws_access_key'),
  secret('aws.sts.session_key_id', `ASIA${random(UPPER_DIGITS, 16)}`, 'aws_access_key'),
  secret('nhi.aws.secret_material', `${random(BASE64, 38)}Ab`, 'aws_secret_key'),
  secret('gcp.service_account.json', GCP_SERVICE_ACCOUNT, 'gcp_service_account'),
  secret('azure.storage.connection', `DefaultEndpointsProtocol=https;AccountName=acmeartifacts;AccountKey=${random(BASE64, 86)}==;EndpointSuffix=core.windows.net`, 'azure_connection_string'),
  secret('azure.blob.download_url', `https://acmeartifacts.blob.core.windows.net/releases/payments.tar?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-12-01T00:00:00Z&sig=${random(ALNUM, 40)}%3D`, 'azure_sas_token'),
  secret('azure.ad.app_credential', `${random(ALNUM, 3)}8Q~${random(ALNUM, 34)}`, 'azure_client_secret'),
  secret('nhi.github.pat_value', `ghp_${random(ALNUM, 36)}`, 'github_token'),
  secret('nhi.oauth.grant', `gho_${random(ALNUM, 36)}`, 'github_token'),
  secret('nhi.github.user_to_server', `ghu_${random(ALNUM, 36)}`, 'github_token'),
  secret('exception.message', `fatal: Authentication failed for 'https://x-access-token:ghs_${random(ALNUM, 36)}@github.com/acme/payments.git/'`, 'github_token'),
  secret('nhi.github.refresh', `ghr_${random(ALNUM, 76)}`, 'github_token'),
  secret('process.environment.gh_release', `github_pat_${random(ALNUM, 22)}_${random(ALNUM, 59)}`, 'github_token'),
  secret('nhi.gitlab.deploy', `glpat-${random(BASE64URL, 20)}`, 'gitlab_token'),
  secret('nhi.slack.bot', `xoxb-${random(DIGITS, 12)}-${random(DIGITS, 13)}-${random(ALNUM, 24)}`, 'slack_token'),
  secret('nhi.slack.user', `xoxp-${random(DIGITS, 12)}-${random(DIGITS, 12)}-${random(DIGITS, 13)}-${random(HEX, 32)}`, 'slack_token'),
  secret('nhi.slack.app_level', `xapp-1-A0${random(UPPER_DIGITS, 9)}-${random(DIGITS, 13)}-${random(HEX, 64)}`, 'slack_token'),
  secret('nhi.notify.webhook_url', `https://hooks.slack.com/services/T0${random(UPPER_DIGITS, 8)}/B0${random(UPPER_DIGITS, 8)}/${random(ALNUM, 24)}`, 'slack_webhook'),
  secret('billing.stripe.live', `sk_live_${random(ALNUM, 24)}`, 'stripe_key'),
  secret('billing.stripe.restricted', `rk_live_${random(ALNUM, 24)}`, 'stripe_key'),
  secret('billing.stripe.webhook', `whsec_${random(ALNUM, 32)}`, 'stripe_key'),
  secret('ci.npm.publish', `npm_${random(ALNUM, 36)}`, 'npm_token'),
  secret('ci.pypi.upload', `pypi-AgEIcHlwaS5vcmc${random(BASE64URL, 60)}`, 'pypi_token'),
  secret('ci.docker.login', `dckr_pat_${random(BASE64URL, 27)}`, 'docker_token'),
  secret('ml.hub.access', `hf_${random('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 34)}`, 'huggingface_token'),
  secret('gen_ai.provider.credential_value', `sk-proj-${random(BASE64URL, 48)}T3BlbkFJ${random(BASE64URL, 20)}`, 'openai_key'),
  secret('gen_ai.anthropic.key_material', `sk-ant-api03-${random(BASE64URL, 93)}AA`, 'anthropic_key'),
  secret('maps.geocoder.config', `AIza${random(BASE64URL, 35)}`, 'google_api_key'),
  secret('gcp.oauth.access', `ya29.${random(BASE64URL, 120)}`, 'google_oauth_token'),
  secret('mail.sendgrid.api', `SG.${random(BASE64URL, 22)}.${random(BASE64URL, 43)}`, 'sendgrid_key'),
  secret('sms.twilio.api_key_sid', `SK${random(HEX, 32)}`, 'twilio_key'),
  secret('nhi.target.dsn', `postgres://app_rw:${random(ALNUM, 24)}@payments-db.internal:5432/payments?sslmode=require`, 'url_credentials'),
  secret('nhi.target.ado', `Server=tcp:sql.acme.net,1433;Database=payments;User ID=app;Password=${random(ALNUM, 18)};Encrypt=true`, 'dsn_password'),
  secret('http.request.body', `{"username":"deployer","password":"${random(ALNUM, 16)}"}`, 'json_secret_field'),
  secret('url.full', `https://login.acme.dev/callback?code=${random(BASE64URL, 22)}&state=af0ifjsldkj`, 'url_query_secret'),
  secret('vault.lease.handle', `hvs.${random(BASE64URL, 90)}`, 'vault_token'),
  secret('vault.legacy.handle', `s.${random(ALNUM, 22)}a1`, 'vault_token'),
  secret('nhi.session.cookie_value', random(BASE64, 44), 'high_entropy'),
  secret('aws.request.signature', random(HEX, 64), 'high_entropy'),
  secret('password', 'hunter2', 'key_name'),
  secret('oauth.client_secret', 'correct-horse-battery-staple', 'key_name'),
  secret('nhi.installation.token', 'v1.2f9a0c7e', 'key_name'),
  secret('db.clientPassword', 'Spring2025!', 'key_name'),
  secret('acme.internal.opaque', 'blue-42', 'configured_key'),
  secret('ticket.note', 'card 4111-1111-1111-1111 charged for rotation fees', 'configured_pattern'),
];

function ok(key: string, value: AnyValueObject | string): { key: string; value: AnyValueObject } {
  return { key, value: typeof value === 'string' ? str(value) : value };
}

const NON_SECRETS = [
  ok('nhi.parent.trace_id', '4bf92f3577b34da6a3ce929d0e0e4736'),
  ok('nhi.parent.span_id', '00f067aa0ba902b7'),
  ok('nhi.policy.decision_id', '3f2c8a9e-5b7d-4e1f-9a6c-2d8b7e4f1a3c'),
  ok('nhi.session.id', '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d'),
  ok('vcs.ref.head.revision', 'e83c5163316f89bfbde7d9ab23ca2e25604af290'),
  ok('nhi.workflow.definition.hash', `sha256:${createHash('sha256').update('deploy.yaml').digest('hex')}`),
  ok('nhi.attestation.envelope_digest', `sha512:${createHash('sha512').update('envelope').digest('hex')}`),
  ok('tls.server.hash.sha256', createHash('sha256').update('cert').digest('hex').toUpperCase()),
  ok('aws.iam.role.arn', 'arn:aws:iam::123456789012:role/deploy-bot'),
  ok('nhi.key.id', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
  ok('nhi.identity.spiffe_id', 'spiffe://prod.acme.org/ns/payments/sa/deployer'),
  ok('k8s.pod.name', 'payments-api-7f9c8d6b5-x2x9k'),
  ok('k8s.namespace.name', 'sk-payments-prod'),
  ok('url.full', 'https://api.github.com/repos/acme/payments/deployments?per_page=100&page=2'),
  ok('vcs.repository.url.full', 'https://github.com/acme/payments.git'),
  ok('cicd.pipeline.run.url.full', 'https://github.com/acme/payments/actions/runs/11234567890/attempts/1'),
  ok('enduser.id', 'alice@example.com'),
  ok('nhi.approval.granted_at', '2025-11-24T15:04:05.123Z'),
  ok('nhi.policy.id', 'pol-prod-deploy-requires-approval'),
  ok('nhi.change.target', 'vault:db/password#v7'),
  ok('nhi.change.summary', 'rotated password for db user app_rw; previous credential revoked'),
  ok('nhi.secret.path', 'secret/data/payments/db'),
  ok('nhi.secret.version', { intValue: 7 }),
  ok('nhi.token.kind', 'github_app_installation'),
  ok('nhi.auth.token_type', 'Bearer'),
  ok('nhi.token.scopes', { arrayValue: { values: [str('contents:read'), str('deployments:write')] } }),
  ok('nhi.auth.method', 'oidc'),
  ok('nhi.auth.subject', 'repo:acme/payments:environment:production'),
  ok('error.type', 'AccessDeniedException'),
  ok('http.request.method', 'POST'),
  ok('http.response.status_code', { intValue: 403 }),
  ok('http.route', '/api/v1/tokens/{token_id}'),
  ok('http.request.header.content-type', { arrayValue: { values: [str('application/json')] } }),
  ok('http.response.header.www-authenticate', { arrayValue: { values: [str('Bearer realm="api", error="invalid_token"')] } }),
  ok('user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'),
  ok('exception.stacktrace', 'Error: connect ECONNREFUSED 10.0.3.7:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)'),
  ok('db.query.text', 'UPDATE credentials SET rotated_at = $1 WHERE id = $2'),
  ok('server.address', 'payments-db.cluster-c9akciq32.eu-west-1.rds.amazonaws.com'),
  ok('cloud.resource_id', '/subscriptions/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718/resourceGroups/payments/providers/Microsoft.Web/sites/payments-api'),
  ok('gen_ai.usage.input_tokens', { intValue: 1532 }),
  ok('nhi.github.installation_id', { intValue: 48213377 }),
  ok('process.command_args', { arrayValue: { values: [str('node'), str('dist/main.js'), str('--config'), str('/etc/runledger.yaml')] } }),
  ok('nhi.signing.key_id', 'projects/acme/locations/global/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/3'),
  ok('nhi.approval.ticket', 'CHG0012345'),
  ok('nhi.session.duration_ms', { doubleValue: 1200.5 }),
  ok('nhi.token.expires_at', '2025-11-24T16:04:05Z'),
  ok('container.image.repo_digests', { arrayValue: { values: [str(`ghcr.io/acme/payments@sha256:${createHash('sha256').update('img').digest('hex')}`)] } }),
  ok('nhi.run.context', { kvlistValue: { values: [{ key: 'environment', value: str('production') }, { key: 'actor', value: str('release-bot[bot]') }] } }),
  ok('nhi.run.dry_run', { boolValue: false }),
];

const PLACEMENTS = ['resource', 'scope', 'span', 'event', 'link', 'kvlist', 'array'] as const;
type Placement = (typeof PLACEMENTS)[number];

interface Placed {
  readonly entry: CorpusEntry;
  readonly placement: Placement;
  /** The path its redaction record must name. */
  readonly path: string;
}

const TRACE_ID = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SPAN_ID = Buffer.from('b7ad6b7169203331', 'hex');

/** The span, resource and scope of a request carrying `attributes` in each place. */
function encodeAll(byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>>) {
  const kvs = (p: Placement) => byPlacement[p] ?? [];
  const spanAttributes = [
    { key: 'nhi.workflow.run.id', value: str('run-42') },
    ...kvs('span'),
    ...(kvs('kvlist').length > 0 ? [{ key: 'nhi.context', value: { kvlistValue: { values: kvs('kvlist') } } }] : []),
    ...kvs('array').map(({ key, value }) => ({ key, value: { arrayValue: { values: [str('benign'), value] } } })),
  ];
  const span = Span.encode(
    Span.fromObject({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      name: 'rotate db credential',
      kind: 1,
      startTimeUnixNano: '1764000000123456789',
      endTimeUnixNano: '1764000000987654321',
      attributes: spanAttributes,
      events: [{ timeUnixNano: '1764000000500000001', name: 'credential.issued', attributes: kvs('event') }],
      links: [{ traceId: Buffer.alloc(16, 0xaa), spanId: Buffer.alloc(8, 0xbb), attributes: kvs('link') }],
      status: { code: 1 },
    }),
  ).finish();
  const resource = Resource.encode(Resource.fromObject({ attributes: [{ key: 'service.name', value: str('deployer') }, ...kvs('resource')] })).finish();
  const scope = InstrumentationScope.encode(
    InstrumentationScope.fromObject({ name: 'runledger-test', version: '1.0.0', attributes: kvs('scope') }),
  ).finish();
  return { span, resource, scope };
}

function pathOf(placement: Placement, key: string): string {
  switch (placement) {
    case 'event':
      return `events[0].attributes.${key}`;
    case 'link':
      return `links[0].attributes.${key}`;
    case 'kvlist':
      return `attributes.nhi.context.${key}`;
    case 'array':
      return `attributes.${key}[1]`;
    default:
      return `attributes.${key}`;
  }
}

function redactAll(encoded: ReturnType<typeof encodeAll>, r: Redactor = redactor) {
  return {
    span: redactEncodedSpan(encoded.span, r),
    resource: redactEncodedResource(encoded.resource, r),
    scope: redactEncodedScope(encoded.scope, r),
  };
}

function bytesOf(placement: Placement, result: ReturnType<typeof redactAll>): Uint8Array {
  return placement === 'resource' ? result.resource.bytes : placement === 'scope' ? result.scope.bytes : result.span.bytes;
}

function redactionsOf(placement: Placement, result: ReturnType<typeof redactAll>): readonly Redaction[] {
  return placement === 'resource'
    ? result.resource.redactions
    : placement === 'scope'
      ? result.scope.redactions
      : result.span.redactions;
}

function contains(bytes: Uint8Array, clear: string): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(clear) >= 0;
}

describe('secret corpus in encoded messages', () => {
  it(`has at least 30 secrets and 30 non-secrets (${SECRETS.length} and ${NON_SECRETS.length})`, () => {
    expect(SECRETS.length).toBeGreaterThanOrEqual(30);
    expect(NON_SECRETS.length).toBeGreaterThanOrEqual(30);
    expect(new Set(SECRETS.map((s) => s.key)).size).toBe(SECRETS.length);
  });

  it('redacts every secret wherever it is placed (resource, scope, span, event, link, kvlist, array): 100%', () => {
    const placed: Placed[] = SECRETS.map((entry, i) => {
      const placement = PLACEMENTS[i % PLACEMENTS.length]!;
      return { entry, placement, path: pathOf(placement, entry.key) };
    });
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {};
    for (const { entry, placement } of placed) (byPlacement[placement] ??= []).push({ key: entry.key, value: entry.value });
    const encoded = encodeAll(byPlacement);
    for (const { entry, placement } of placed) expect(contains(bytesOf(placement, encodeAllBytes(encoded)), entry.clear)).toBe(true);

    const result = redactAll(encoded);
    const missed = placed.filter(({ entry, placement, path }) => {
      const gone = !contains(bytesOf(placement, result), entry.clear);
      const listed = redactionsOf(placement, result).some((r) => r.key === path);
      return !(gone && listed);
    });
    const rate = (placed.length - missed.length) / placed.length;
    console.info(`secret corpus: ${placed.length - missed.length}/${placed.length} redacted (${(rate * 100).toFixed(1)}%)`);
    expect(missed.map((m) => `${m.placement} ${m.entry.key}`)).toEqual([]);
    expect(rate).toBe(1);
  });

  it.each(SECRETS.map((s) => [s.key, s] as const))('names the reason for %s', (_key, entry) => {
    const { span } = redactAll(encodeAll({ span: [{ key: entry.key, value: entry.value }] }));
    expect(span.redactions).toEqual([{ key: `attributes.${entry.key}`, reason: entry.reason }]);
    expect(contains(span.bytes, entry.clear)).toBe(false);
  });

  it('redacts none of the non-secrets and returns the very same buffers: 0%', () => {
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {};
    NON_SECRETS.forEach((kv, i) => (byPlacement[PLACEMENTS[i % PLACEMENTS.length]!] ??= []).push(kv));
    const encoded = encodeAll(byPlacement);
    const result = redactAll(encoded);
    const redacted = [...result.span.redactions, ...result.resource.redactions, ...result.scope.redactions];

    let falsePositives = 0;
    for (const kv of NON_SECRETS) {
      const single = redactAll(encodeAll({ span: [kv] }));
      if (single.span.redactions.length > 0) falsePositives++;
    }
    const rate = falsePositives / NON_SECRETS.length;
    console.info(`non-secret corpus: ${falsePositives}/${NON_SECRETS.length} redacted (${(rate * 100).toFixed(1)}%)`);
    expect(redacted).toEqual([]);
    expect(rate).toBe(0);
    expect(result.span.bytes).toBe(encoded.span);
    expect(result.resource.bytes).toBe(encoded.resource);
    expect(result.scope.bytes).toBe(encoded.scope);
  });
});

function encodeAllBytes(encoded: ReturnType<typeof encodeAll>): ReturnType<typeof redactAll> {
  const same = (bytes: Uint8Array) => ({ bytes, redactions: [] });
  return { span: same(encoded.span), resource: same(encoded.resource), scope: same(encoded.scope) };
}

interface DecodedSpan {
  name: string;
  attributes: KeyValueMessage[];
  events: Array<{ name: string; attributes: KeyValueMessage[] }>;
  links: Array<{ attributes: KeyValueMessage[] }>;
  status: { code: number };
  traceId: Buffer;
}

describe('redactEncodedSpan', () => {
  const token = `ghp_${random(ALNUM, 36)}`;

  it('replaces the value by its keyed hash and keeps everything else', () => {
    const { span } = encodeAll({ span: [{ key: 'nhi.github.pat', value: str(token) }, { key: 'nhi.env', value: str('prod') }] });
    const result = redactEncodedSpan(span, redactor);
    const decoded = Span.decode(result.bytes) as unknown as DecodedSpan;
    const attributes = toAttributes(decoded.attributes);
    expect(attributes['nhi.github.pat']).toBe(redactor.hash(token));
    expect(attributes['nhi.github.pat']).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    expect(attributes['nhi.env']).toBe('prod');
    expect(attributes['nhi.workflow.run.id']).toBe('run-42');
    expect(decoded.name).toBe('rotate db credential');
    expect(decoded.traceId.equals(TRACE_ID)).toBe(true);
    expect(decoded.events[0]!.name).toBe('credential.issued');
    expect(decoded.status.code).toBe(1);
  });

  it('gives equal secrets equal hashes wherever they are, and different keys different hashes', () => {
    const encoded = encodeAll({
      span: [{ key: 'a.token', value: str(token) }],
      event: [{ key: 'b.credential', value: str(token) }],
      resource: [{ key: 'c.pat', value: str(token) }],
    });
    const mine = redactAll(encoded);
    const theirs = redactAll(encoded, createRedactor(CONFIG, OTHER_HMAC_KEY));
    const valueOf = (bytes: Uint8Array, type: 'span' | 'event' | 'resource') => {
      if (type === 'resource') return toAttributes((Resource.decode(bytes) as unknown as { attributes: KeyValueMessage[] }).attributes)['c.pat'];
      const decoded = Span.decode(bytes) as unknown as DecodedSpan;
      return type === 'span' ? toAttributes(decoded.attributes)['a.token'] : toAttributes(decoded.events[0]!.attributes)['b.credential'];
    };
    const hashes = [valueOf(mine.span.bytes, 'span'), valueOf(mine.span.bytes, 'event'), valueOf(mine.resource.bytes, 'resource')];
    expect(new Set(hashes).size).toBe(1);
    expect(hashes[0]).toMatch(/^redacted:hmac-sha256:[0-9a-f]{32}$/);
    expect(valueOf(theirs.span.bytes, 'span')).not.toBe(hashes[0]);
    expect(hashes[0]).toBe(`redacted:hmac-sha256:${createHmac('sha256', HMAC_KEY).update(token).digest('hex').slice(0, 32)}`);
  });

  it('lists the same paths and yields the same attributes as the decoded-model redaction', () => {
    const byPlacement: Partial<Record<Placement, Array<{ key: string; value: AnyValueObject }>>> = {
      span: SECRETS.slice(0, 20).map((s) => ({ key: s.key, value: s.value })),
      kvlist: SECRETS.slice(20, 30).map((s) => ({ key: s.key, value: s.value })),
      array: SECRETS.slice(30).map((s) => ({ key: s.key, value: s.value })),
    };
    const { span } = encodeAll(byPlacement);
    const before = toAttributes((Span.decode(span) as unknown as DecodedSpan).attributes);
    const encoded = redactEncodedSpan(span, redactor);
    const model = redactor.redactAttributes(before);
    expect(model.redactions.map((r) => ({ ...r, key: `attributes.${r.key}` }))).toEqual(encoded.redactions);
    expect(model.attributes).toEqual(toAttributes((Span.decode(encoded.bytes) as unknown as DecodedSpan).attributes));
  });

  it('redacts every scalar under a secret key name, numbers too, but not booleans', () => {
    const { span } = encodeAll({
      span: [
        { key: 'db.password', value: { intValue: 918273 } },
        { key: 'vault.pin_secret', value: { doubleValue: 1234.5 } },
        { key: 'auth.token', value: { boolValue: true } },
        { key: 'client_secret', value: { arrayValue: { values: [str('a-first-secret'), str('a-second-secret')] } } },
      ],
    });
    const result = redactEncodedSpan(span, redactor);
    expect(result.redactions).toEqual([
      { key: 'attributes.db.password', reason: 'key_name' },
      { key: 'attributes.vault.pin_secret', reason: 'key_name' },
      { key: 'attributes.client_secret[0]', reason: 'key_name' },
      { key: 'attributes.client_secret[1]', reason: 'key_name' },
    ]);
    const attributes = toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes);
    expect(attributes['db.password']).toBe(redactor.hash('918273'));
    expect(attributes['auth.token']).toBe(true);
  });

  it('applies configured patterns to int and double values read from the wire', () => {
    const r = createRedactor(redactionConfigSchema.parse({ patterns: ['^-?\\d{6}(?:\\.5)?$'] }), HMAC_KEY);
    const { span } = encodeAll({
      span: [
        { key: 'ticket.ref', value: { intValue: -123456 } },
        { key: 'ticket.amount', value: { doubleValue: 654321.5 } },
        { key: 'ticket.count', value: { intValue: 12 } },
      ],
    });
    const result = redactEncodedSpan(span, r);
    expect(result.redactions).toEqual([
      { key: 'attributes.ticket.ref', reason: 'configured_pattern' },
      { key: 'attributes.ticket.amount', reason: 'configured_pattern' },
    ]);
    const attributes = toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes);
    expect(attributes['ticket.ref']).toBe(r.hash('-123456'));
    expect(attributes['ticket.count']).toBe(12);
  });

  it('leaves allowed keys alone, and configured keys win over allowed ones', () => {
    const r = createRedactor(
      redactionConfigSchema.parse({ allow_keys: ['nhi.debug.*'], keys: ['nhi.debug.opaque'] }),
      HMAC_KEY,
    );
    const { span } = encodeAll({
      span: [
        { key: 'nhi.debug.github_token', value: str(token) },
        { key: 'nhi.debug.opaque', value: str('plain') },
      ],
    });
    expect(redactEncodedSpan(span, r).redactions).toEqual([{ key: 'attributes.nhi.debug.opaque', reason: 'configured_key' }]);
  });

  it('returns the input untouched when redaction is disabled', () => {
    const r = createRedactor(redactionConfigSchema.parse({ enabled: false }), HMAC_KEY);
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const result = redactEncodedSpan(span, r);
    expect(result.bytes).toBe(span);
    expect(result.redactions).toEqual([]);
  });

  it('leaves values it already redacted as they are', () => {
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const once = redactEncodedSpan(span, redactor);
    const twice = redactEncodedSpan(once.bytes, redactor);
    expect(twice.bytes).toBe(once.bytes);
    expect(twice.redactions).toEqual([]);
  });

  it('redacts containers nested deeper than it walks, whole', () => {
    let value: AnyValueObject = str('leaf');
    for (let i = 0; i < MAX_NESTING_DEPTH + 8; i++) value = { arrayValue: { values: [value] } };
    const { span } = encodeAll({ span: [{ key: 'nhi.deep', value }] });
    const result = redactEncodedSpan(span, redactor);
    expect(result.redactions).toEqual([{ key: `attributes.nhi.deep${'[0]'.repeat(MAX_NESTING_DEPTH)}`, reason: 'too_deep' }]);
    const model = redactor.redactAttributes(toAttributes((Span.decode(span) as unknown as DecodedSpan).attributes));
    expect(model.attributes).toEqual(toAttributes((Span.decode(result.bytes) as unknown as DecodedSpan).attributes));
  });

  it('throws on kvlists nested deeper than protobufjs decodes (its limit: 100 messages)', () => {
    const anyValue = (field: number, body: Uint8Array | string) => {
      const w = protobuf.Writer.create().uint32((field << 3) | 2);
      return (typeof body === 'string' ? w.string(body) : w.bytes(body)).finish();
    };
    let value = anyValue(1, 'leaf');
    for (let i = 0; i < 40; i++) {
      const kv = protobuf.Writer.create().uint32((1 << 3) | 2).string(`l${i}`).uint32((2 << 3) | 2).bytes(value).finish();
      value = anyValue(6, protobuf.Writer.create().uint32((1 << 3) | 2).bytes(kv).finish());
    }
    const kv = protobuf.Writer.create().uint32((1 << 3) | 2).string('nhi.deep').uint32((2 << 3) | 2).bytes(value).finish();
    const span = protobuf.Writer.create().uint32((9 << 3) | 2).bytes(kv).finish();
    expect(() => redactEncodedSpan(span, redactor)).toThrow(/nesting depth/);
  });
});

describe('irregular wire structure', () => {
  /** An encoded Resource whose single KeyValue is written by hand. */
  function resourceWith(keyValue: (w: protobuf.Writer) => void): Uint8Array {
    const kv = protobuf.Writer.create();
    keyValue(kv);
    const bytes = kv.finish();
    return protobuf.Writer.create().uint32((1 << 3) | 2).bytes(bytes).finish();
  }
  const anyString = (text: string) => protobuf.Writer.create().uint32((1 << 3) | 2).string(text).finish();
  const token = `ghp_${random(ALNUM, 36)}`;

  it('rewrites a KeyValue whose value appears twice, so the hidden first value is not stored', () => {
    const bytes = resourceWith((w) => {
      w.uint32((1 << 3) | 2).string('note');
      w.uint32((2 << 3) | 2).bytes(anyString(token));
      w.uint32((2 << 3) | 2).bytes(anyString('harmless'));
    });
    expect(contains(bytes, token)).toBe(true);
    const result = redactEncodedResource(bytes, redactor);
    expect(contains(result.bytes, token)).toBe(false);
    expect(toAttributes((Resource.decode(result.bytes) as unknown as { attributes: KeyValueMessage[] }).attributes)).toEqual({
      note: 'harmless',
    });
  });

  it('examines every oneof member of an AnyValue, not only the one protobufjs reports', () => {
    const value = protobuf.Writer.create();
    value.uint32((1 << 3) | 2).string(token);
    value.uint32((3 << 3) | 0).int64(5);
    const bytes = resourceWith((w) => {
      w.uint32((1 << 3) | 2).string('note');
      w.uint32((2 << 3) | 2).bytes(value.finish());
    });
    const result = redactEncodedResource(bytes, redactor);
    expect(contains(result.bytes, token)).toBe(false);
    expect(result.redactions).toEqual([{ key: 'attributes.note', reason: 'github_token' }]);
  });

  it('throws on truncated bytes rather than storing them unexamined', () => {
    const { span } = encodeAll({ span: [{ key: 'nhi.env', value: str('production') }] });
    expect(() => redactEncodedSpan(span.subarray(0, span.length - 30), redactor)).toThrow();
  });

  it('accepts a plain Uint8Array and an empty message', () => {
    const { span } = encodeAll({ span: [{ key: 'password', value: str('hunter2') }] });
    const plain = new Uint8Array(span);
    expect(redactEncodedSpan(plain, redactor).redactions).toHaveLength(1);
    const empty = new Uint8Array(0);
    expect(redactEncodedResource(empty, redactor).bytes).toBe(empty);
  });
});

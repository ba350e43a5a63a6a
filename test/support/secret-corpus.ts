import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';

/**
 * The redaction corpus (DESIGN §7): secrets of every shape the detectors know, under the keys a real
 * workflow would use, and values that look close to secrets but must stay readable (ids, digests, ARNs,
 * URLs without credentials). Shared by the unit test of the encoded-form redaction
 * (src/otlp/redact-encoded.test.ts) and the end-to-end test (test/e2e/redaction.test.ts).
 *
 * Keys are generated per process (real RSA and EC keys); every other "random" value comes from a seeded
 * generator, so a failure reproduces.
 */

/** An attribute value as an application hands it over: OTLP's AnyValue in plain JavaScript. */
export type SampleValue = string | number | boolean | Uint8Array | readonly SampleValue[] | { readonly [key: string]: SampleValue };

export interface SecretSample {
  /** What the secret is, for failure messages. */
  readonly name: string;
  /** The attribute key it is sent under (distinct across the corpus). */
  readonly key: string;
  readonly value: string | Uint8Array;
  /** What must not remain in the encoded bytes once redacted. */
  readonly clear: string;
  /** The reason the redaction record must name. */
  readonly reason: string;
  /**
   * Fragments that must appear nowhere once redacted (files, logs, API answers): each is free of the
   * characters a JSON encoder escapes, so it is found in JSON output as well as in raw bytes.
   */
  readonly needles: readonly string[];
}

export interface NonSecretSample {
  readonly name: string;
  readonly key: string;
  /** Integers are sent as OTLP intValue, other numbers as doubleValue. */
  readonly value: SampleValue;
}

/** Deterministic "random" text, so a failure reproduces. */
export function generator(seed: string): (alphabet: string, length: number) => string {
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

export const random = generator('runledger-redaction-corpus');
export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const BASE64 = `${ALNUM}+/`;
export const BASE64URL = `${ALNUM}-_`;
export const HEX = '0123456789abcdef';
export const DIGITS = '0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A signed HS256 JWT. */
export function jwt(payload: Record<string, unknown>, secret: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

export const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
export const EC_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
export const OPENSSH_PEM = `-----BEGIN OPENSSH PRIVATE KEY-----\n${random(BASE64, 70)}\n${random(BASE64, 70)}\n-----END OPENSSH PRIVATE KEY-----\n`;
export const GCP_SERVICE_ACCOUNT = JSON.stringify({
  type: 'service_account',
  project_id: 'acme-deploy',
  private_key_id: random(HEX, 40),
  private_key: EC_PEM,
  client_email: 'deployer@acme-deploy.iam.gserviceaccount.com',
  client_id: random(DIGITS, 21),
});
export const OIDC_JWT = jwt(
  { iss: 'https://token.actions.githubusercontent.com', sub: 'repo:acme/payments:ref:refs/heads/main', exp: 1764003600 },
  random(ALNUM, 32),
);

/** Characters JSON (and so the HTTP API, `export` and the logs) would escape or that break a fragment. */
const ESCAPED = /\\n|[\n\r"\\]/;
/** Shorter pieces of an escaped value are words like `password` or `service_account`, not secret. */
const MIN_FRAGMENT_LENGTH = 16;
/** PEM armor (`-----BEGIN PRIVATE KEY-----`) names a key without being one: every key file has it. */
const PEM_ARMOR = /^-----/;

/**
 * The needles of a value: the value itself when nothing in it is escaped in JSON; else its pieces of at
 * least 16 characters between escaped characters (PEM body lines, a JSON field's secret), PEM armor
 * left out; for bytes, also their base64 and hex forms (the API renders bytes as base64).
 */
export function needlesOf(value: string | Uint8Array): string[] {
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value);
    return [...needlesOf(bytes.toString('utf8')), bytes.toString('base64'), bytes.toString('hex')];
  }
  if (!ESCAPED.test(value)) return [value];
  return value.split(new RegExp(ESCAPED, 'g')).filter((piece) => piece.length >= MIN_FRAGMENT_LENGTH && !PEM_ARMOR.test(piece));
}

function secret(name: string, key: string, value: string, reason: string): SecretSample {
  return { name, key, value, clear: value, reason, needles: needlesOf(value) };
}

export const SECRETS: readonly SecretSample[] = [
  secret('RSA private key, PKCS#1 PEM', 'deploy.signing.material', RSA_PEM, 'private_key'),
  secret('EC private key, PKCS#8 PEM', 'nhi.ssh.identity', EC_PEM, 'private_key'),
  secret('OpenSSH private key', 'nhi.ssh.agent_dump', OPENSSH_PEM, 'private_key'),
  {
    name: 'RSA private key PEM as bytes',
    key: 'nhi.blob',
    value: new Uint8Array(Buffer.from(RSA_PEM)),
    clear: RSA_PEM.split('\n')[5]!,
    reason: 'private_key',
    needles: needlesOf(new Uint8Array(Buffer.from(RSA_PEM))),
  },
  secret('signed OIDC JWT (HS256)', 'nhi.oidc.assertion', OIDC_JWT, 'jwt'),
  secret('Bearer token in an Authorization header', 'http.request.header.authorization', `Bearer ${random(BASE64URL, 43)}`, 'bearer_token'),
  secret(
    'Basic credentials in a Proxy-Authorization header',
    'http.request.header.proxy-authorization',
    `Basic ${Buffer.from(`svc-deployer:${random(ALNUM, 20)}`).toString('base64')}`,
    'basic_auth',
  ),
  secret('AWS access key id (AKIA)', 'aws.access_key_id', `AKIA${random(UPPER_DIGITS, 16)}`, 'aws_access_key'),
  secret('AWS STS access key id (ASIA)', 'aws.sts.session_key_id', `ASIA${random(UPPER_DIGITS, 16)}`, 'aws_access_key'),
  secret('AWS secret access key', 'nhi.aws.secret_material', `${random(BASE64, 38)}Ab`, 'aws_secret_key'),
  secret('GCP service account JSON', 'gcp.service_account.json', GCP_SERVICE_ACCOUNT, 'gcp_service_account'),
  secret(
    'Azure storage connection string',
    'azure.storage.connection',
    `DefaultEndpointsProtocol=https;AccountName=acmeartifacts;AccountKey=${random(BASE64, 86)}==;EndpointSuffix=core.windows.net`,
    'azure_connection_string',
  ),
  secret(
    'Azure SAS URL',
    'azure.blob.download_url',
    `https://acmeartifacts.blob.core.windows.net/releases/payments.tar?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-12-01T00:00:00Z&sig=${random(ALNUM, 40)}%3D`,
    'azure_sas_token',
  ),
  secret('Azure AD client secret', 'azure.ad.app_credential', `${random(ALNUM, 3)}8Q~${random(ALNUM, 34)}`, 'azure_client_secret'),
  secret('GitHub personal access token (classic)', 'nhi.github.pat_value', `ghp_${random(ALNUM, 36)}`, 'github_token'),
  secret('GitHub OAuth token', 'nhi.oauth.grant', `gho_${random(ALNUM, 36)}`, 'github_token'),
  secret('GitHub user-to-server token', 'nhi.github.user_to_server', `ghu_${random(ALNUM, 36)}`, 'github_token'),
  secret(
    'GitHub installation token inside a git error message',
    'exception.message',
    `fatal: Authentication failed for 'https://x-access-token:ghs_${random(ALNUM, 36)}@github.com/acme/payments.git/'`,
    'github_token',
  ),
  secret('GitHub refresh token', 'nhi.github.refresh', `ghr_${random(ALNUM, 76)}`, 'github_token'),
  secret('GitHub fine-grained PAT', 'process.environment.gh_release', `github_pat_${random(ALNUM, 22)}_${random(ALNUM, 59)}`, 'github_token'),
  secret('GitLab personal access token', 'nhi.gitlab.deploy', `glpat-${random(BASE64URL, 20)}`, 'gitlab_token'),
  secret('Slack bot token', 'nhi.slack.bot', `xoxb-${random(DIGITS, 12)}-${random(DIGITS, 13)}-${random(ALNUM, 24)}`, 'slack_token'),
  secret(
    'Slack user token',
    'nhi.slack.user',
    `xoxp-${random(DIGITS, 12)}-${random(DIGITS, 12)}-${random(DIGITS, 13)}-${random(HEX, 32)}`,
    'slack_token',
  ),
  secret('Slack app-level token', 'nhi.slack.app_level', `xapp-1-A0${random(UPPER_DIGITS, 9)}-${random(DIGITS, 13)}-${random(HEX, 64)}`, 'slack_token'),
  secret(
    'Slack incoming webhook URL',
    'nhi.notify.webhook_url',
    `https://hooks.slack.com/services/T0${random(UPPER_DIGITS, 8)}/B0${random(UPPER_DIGITS, 8)}/${random(ALNUM, 24)}`,
    'slack_webhook',
  ),
  secret('Stripe live secret key', 'billing.stripe.live', `sk_live_${random(ALNUM, 24)}`, 'stripe_key'),
  secret('Stripe restricted key', 'billing.stripe.restricted', `rk_live_${random(ALNUM, 24)}`, 'stripe_key'),
  secret('Stripe webhook signing secret', 'billing.stripe.webhook', `whsec_${random(ALNUM, 32)}`, 'stripe_key'),
  secret('npm publish token', 'ci.npm.publish', `npm_${random(ALNUM, 36)}`, 'npm_token'),
  secret('PyPI upload token', 'ci.pypi.upload', `pypi-AgEIcHlwaS5vcmc${random(BASE64URL, 60)}`, 'pypi_token'),
  secret('Docker Hub personal access token', 'ci.docker.login', `dckr_pat_${random(BASE64URL, 27)}`, 'docker_token'),
  secret('Hugging Face access token', 'ml.hub.access', `hf_${random(LETTERS, 34)}`, 'huggingface_token'),
  secret(
    'OpenAI project key',
    'gen_ai.provider.credential_value',
    `sk-proj-${random(BASE64URL, 48)}T3BlbkFJ${random(BASE64URL, 20)}`,
    'openai_key',
  ),
  secret('Anthropic API key', 'gen_ai.anthropic.key_material', `sk-ant-api03-${random(BASE64URL, 93)}AA`, 'anthropic_key'),
  secret('Google API key', 'maps.geocoder.config', `AIza${random(BASE64URL, 35)}`, 'google_api_key'),
  secret('Google OAuth access token', 'gcp.oauth.access', `ya29.${random(BASE64URL, 120)}`, 'google_oauth_token'),
  secret('SendGrid API key', 'mail.sendgrid.api', `SG.${random(BASE64URL, 22)}.${random(BASE64URL, 43)}`, 'sendgrid_key'),
  secret('Twilio API key SID', 'sms.twilio.api_key_sid', `SK${random(HEX, 32)}`, 'twilio_key'),
  secret(
    'password in a PostgreSQL URL',
    'nhi.target.dsn',
    `postgres://app_rw:${random(ALNUM, 24)}@payments-db.internal:5432/payments?sslmode=require`,
    'url_credentials',
  ),
  secret(
    'password in an ADO.NET connection string',
    'nhi.target.ado',
    `Server=tcp:sql.acme.net,1433;Database=payments;User ID=app;Password=${random(ALNUM, 18)};Encrypt=true`,
    'dsn_password',
  ),
  secret('password field in a JSON request body', 'http.request.body', `{"username":"deployer","password":"${random(ALNUM, 16)}"}`, 'json_secret_field'),
  secret(
    // A model's tool call, its arguments a JSON string inside JSON (the AI SDK's ai.response.toolCalls).
    'password field in JSON nested in a JSON string',
    'ai.response.toolCalls',
    JSON.stringify([{ toolCallId: 'call_1', toolName: 'delete_customer', input: JSON.stringify({ customerId: 'C-9', password: random(ALNUM, 20) }) }]),
    'json_secret_field',
  ),
  secret('OAuth authorization code in a callback URL', 'url.full', `https://login.acme.dev/callback?code=${random(BASE64URL, 22)}&state=af0ifjsldkj`, 'url_query_secret'),
  secret('Vault service token (hvs.)', 'vault.lease.handle', `hvs.${random(BASE64URL, 90)}`, 'vault_token'),
  secret('Vault legacy token (s.)', 'vault.legacy.handle', `s.${random(ALNUM, 22)}a1`, 'vault_token'),
  secret('session cookie (base64 key material)', 'nhi.session.cookie_value', random(BASE64, 44), 'high_entropy'),
  secret('request signature (hex key material)', 'aws.request.signature', random(HEX, 64), 'high_entropy'),
  secret('plain password under a password key', 'password', 'hunter2', 'key_name'),
  secret('passphrase under a client_secret key', 'oauth.client_secret', 'correct-horse-battery-staple', 'key_name'),
  secret('short opaque value under a token key', 'nhi.installation.token', 'v1.2f9a0c7e', 'key_name'),
  secret('password under a camelCase key', 'db.clientPassword', 'Spring2025!', 'key_name'),
  secret('value under a configured key (*.opaque)', 'acme.internal.opaque', 'blue-42', 'configured_key'),
  secret(
    'card number matching a configured pattern',
    'ticket.note',
    'card 4111-1111-1111-1111 charged for rotation fees',
    'configured_pattern',
  ),
];

/** The `redaction` config the corpus assumes: its configured key and pattern entries rely on it. */
export const CORPUS_REDACTION_CONFIG = {
  keys: ['*.opaque'],
  patterns: ['\\b(?:\\d{4}-){3}\\d{4}\\b'],
} as const;

function plain(name: string, key: string, value: SampleValue): NonSecretSample {
  return { name, key, value };
}

export const NON_SECRETS: readonly NonSecretSample[] = [
  plain('W3C trace id', 'nhi.parent.trace_id', '4bf92f3577b34da6a3ce929d0e0e4736'),
  plain('W3C span id', 'nhi.parent.span_id', '00f067aa0ba902b7'),
  plain('UUID decision id', 'nhi.policy.decision_id', '3f2c8a9e-5b7d-4e1f-9a6c-2d8b7e4f1a3c'),
  plain('UUID session id', 'nhi.session.id', '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d'),
  plain('git commit SHA', 'vcs.ref.head.revision', 'e83c5163316f89bfbde7d9ab23ca2e25604af290'),
  plain('sha256 digest', 'nhi.workflow.definition.hash', `sha256:${createHash('sha256').update('deploy.yaml').digest('hex')}`),
  plain('sha512 digest', 'nhi.attestation.envelope_digest', `sha512:${createHash('sha512').update('envelope').digest('hex')}`),
  plain('uppercase certificate fingerprint', 'tls.server.hash.sha256', createHash('sha256').update('cert').digest('hex').toUpperCase()),
  plain('IAM role ARN', 'aws.iam.role.arn', 'arn:aws:iam::123456789012:role/deploy-bot'),
  plain('KMS key ARN', 'nhi.key.id', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
  plain('SPIFFE id', 'nhi.identity.spiffe_id', 'spiffe://prod.acme.org/ns/payments/sa/deployer'),
  plain('k8s pod name', 'k8s.pod.name', 'payments-api-7f9c8d6b5-x2x9k'),
  plain('k8s namespace starting with sk-', 'k8s.namespace.name', 'sk-payments-prod'),
  plain('URL with a harmless query', 'url.full', 'https://api.github.com/repos/acme/payments/deployments?per_page=100&page=2'),
  plain('repository URL', 'vcs.repository.url.full', 'https://github.com/acme/payments.git'),
  plain('pipeline run URL', 'cicd.pipeline.run.url.full', 'https://github.com/acme/payments/actions/runs/11234567890/attempts/1'),
  plain('email address', 'enduser.id', 'alice@example.com'),
  plain('RFC 3339 timestamp', 'nhi.approval.granted_at', '2025-11-24T15:04:05.123Z'),
  plain('policy id', 'nhi.policy.id', 'pol-prod-deploy-requires-approval'),
  plain('secret reference, not a secret', 'nhi.change.target', 'vault:db/password#v7'),
  plain('prose mentioning a password', 'nhi.change.summary', 'rotated password for db user app_rw; previous credential revoked'),
  plain('secret path', 'nhi.secret.path', 'secret/data/payments/db'),
  plain('secret version number', 'nhi.secret.version', 7),
  plain('token kind', 'nhi.token.kind', 'github_app_installation'),
  plain('token type word', 'nhi.auth.token_type', 'Bearer'),
  plain('token scopes', 'nhi.token.scopes', ['contents:read', 'deployments:write']),
  plain('auth method', 'nhi.auth.method', 'oidc'),
  plain('OIDC subject', 'nhi.auth.subject', 'repo:acme/payments:environment:production'),
  plain('error type', 'error.type', 'AccessDeniedException'),
  plain('HTTP method', 'http.request.method', 'POST'),
  plain('HTTP status code', 'http.response.status_code', 403),
  plain('HTTP route naming a token', 'http.route', '/api/v1/tokens/{token_id}'),
  plain('content-type header', 'http.request.header.content-type', ['application/json']),
  plain('WWW-Authenticate challenge', 'http.response.header.www-authenticate', ['Bearer realm="api", error="invalid_token"']),
  plain(
    'browser user agent',
    'user_agent.original',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  ),
  plain(
    'stack trace',
    'exception.stacktrace',
    'Error: connect ECONNREFUSED 10.0.3.7:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)',
  ),
  plain('parameterised SQL', 'db.query.text', 'UPDATE credentials SET rotated_at = $1 WHERE id = $2'),
  plain('RDS host name', 'server.address', 'payments-db.cluster-c9akciq32.eu-west-1.rds.amazonaws.com'),
  plain(
    'Azure resource id',
    'cloud.resource_id',
    '/subscriptions/1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718/resourceGroups/payments/providers/Microsoft.Web/sites/payments-api',
  ),
  plain('token usage count', 'gen_ai.usage.input_tokens', 1532),
  plain('GitHub installation id', 'nhi.github.installation_id', 48213377),
  plain('command line', 'process.command_args', ['node', 'dist/main.js', '--config', '/etc/runledger.yaml']),
  plain('KMS key version name', 'nhi.signing.key_id', 'projects/acme/locations/global/keyRings/ci/cryptoKeys/release/cryptoKeyVersions/3'),
  plain('change ticket', 'nhi.approval.ticket', 'CHG0012345'),
  plain('duration', 'nhi.session.duration_ms', 1200.5),
  plain('token expiry', 'nhi.token.expires_at', '2025-11-24T16:04:05Z'),
  plain('image digest', 'container.image.repo_digests', [`ghcr.io/acme/payments@sha256:${createHash('sha256').update('img').digest('hex')}`]),
  plain('run context map', 'nhi.run.context', { environment: 'production', actor: 'release-bot[bot]' }),
  plain('boolean flag', 'nhi.run.dry_run', false),
];

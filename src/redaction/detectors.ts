/**
 * Secret detection for attribute values (DESIGN §7). Three kinds of evidence, strongest first:
 * the value's shape (a PEM private key, a JWT, a vendor token prefix, credentials in a URL), the key name
 * alone (`password`, `client_secret`, `*.token`), and high-entropy key material — the last only when the
 * key suggests a secret, because ids, digests and commit SHAs are high-entropy too and must stay readable.
 *
 * The value-shape detectors run only on values that pass the byte prefilter in secret-trigger.ts.
 */
import { hasSecretTrigger } from './secret-trigger.js';

/** Why a value was judged a secret: stable codes, listed in redaction records. */
export type SecretReason =
  | 'private_key'
  | 'jwt'
  | 'bearer_token'
  | 'basic_auth'
  | 'aws_access_key'
  | 'aws_secret_key'
  | 'gcp_service_account'
  | 'azure_connection_string'
  | 'azure_sas_token'
  | 'azure_client_secret'
  | 'github_token'
  | 'gitlab_token'
  | 'slack_token'
  | 'slack_webhook'
  | 'stripe_key'
  | 'npm_token'
  | 'pypi_token'
  | 'docker_token'
  | 'huggingface_token'
  | 'openai_key'
  | 'anthropic_key'
  | 'google_api_key'
  | 'google_oauth_token'
  | 'sendgrid_key'
  | 'twilio_key'
  | 'vault_token'
  | 'url_credentials'
  | 'url_query_secret'
  | 'dsn_password'
  | 'json_secret_field'
  | 'high_entropy'
  | 'key_name';

interface ValueDetector {
  readonly reason: SecretReason;
  /** Global (for matchAll); unanchored unless the shape is only credible as the whole value. */
  readonly pattern: RegExp;
  /** Confirms one match; patterns without it are conclusive. */
  readonly confirm?: (match: RegExpMatchArray) => boolean;
}

/**
 * Ordered: the first detector that matches names the reason, so the specific ones (a service-account
 * JSON holds a PEM key; a Bearer header often holds a JWT) come before the general ones.
 */
const VALUE_DETECTORS: readonly ValueDetector[] = [
  { reason: 'gcp_service_account', pattern: /"private_key"\s*:/g },
  {
    reason: 'private_key',
    pattern: /-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d|AGE-SECRET-KEY-1[0-9A-Z]{50,}/g,
  },
  { reason: 'jwt', pattern: /\be[wy][A-Za-z0-9_-]{14,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, confirm: (m) => isJwt(m[0]) },
  { reason: 'github_token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})/g },
  { reason: 'gitlab_token', pattern: /\bgl(?:pat|dt|rt|ptt|ft|imt|oas|cbt|soat|agent)-[A-Za-z0-9_-]{20,}/g },
  { reason: 'slack_webhook', pattern: /hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{10,}/g },
  { reason: 'slack_token', pattern: /\b(?:xox[abposer]-[A-Za-z0-9-]{10,}|xapp-\d+-[A-Za-z0-9-]{10,})/g },
  { reason: 'stripe_key', pattern: /\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/]{24,})/g },
  { reason: 'npm_token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  { reason: 'pypi_token', pattern: /\bpypi-AgE[A-Za-z0-9_-]{50,}/g },
  { reason: 'docker_token', pattern: /\bdckr_pat_[A-Za-z0-9_-]{20,}/g },
  { reason: 'huggingface_token', pattern: /\bhf_[A-Za-z]{30,}\b/g },
  { reason: 'anthropic_key', pattern: /\bsk-ant-[a-z]+\d*-[A-Za-z0-9_-]{32,}/g },
  {
    reason: 'openai_key',
    pattern: /\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{32,}/g,
    // k8s-style names such as `sk-payments-prod-eu-west-1-canary-rollout` are lowercase words.
    confirm: (m) => hasAllCharClasses(m[0]),
  },
  { reason: 'google_api_key', pattern: /\bAIza[0-9A-Za-z_-]{35}/g },
  { reason: 'google_oauth_token', pattern: /\bya29\.[0-9A-Za-z_-]{20,}/g },
  { reason: 'sendgrid_key', pattern: /\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}/g },
  { reason: 'twilio_key', pattern: /\bSK[0-9a-fA-F]{32}\b/g },
  { reason: 'aws_access_key', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g },
  {
    reason: 'azure_connection_string',
    pattern: /\b(?:AccountKey|SharedAccessKey|SharedSecretValue)\s*=\s*[A-Za-z0-9+/]{20,}={0,2}/gi,
  },
  { reason: 'azure_sas_token', pattern: /[?&]sig=[A-Za-z0-9%+/]{20,}/g },
  { reason: 'azure_client_secret', pattern: /(?:^|[^A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}/g },
  {
    reason: 'vault_token',
    // Legacy `s.` tokens are only credible as the whole value; `hvs.` is distinctive anywhere.
    pattern: /\bhv[sbr]\.[A-Za-z0-9_-]{24,}|^[sbr]\.[A-Za-z0-9]{24}$/g,
    confirm: (m) => m[0].startsWith('hv') || hasAllCharClasses(m[0]),
  },
  { reason: 'url_credentials', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:[^\s/?#@]+@/gi },
  {
    reason: 'url_query_secret',
    pattern:
      /[?&](?:access_token|id_token|refresh_token|api_?key|client_secret|token|code|x-amz-signature|x-goog-signature|signature)=[^&#\s]{8,}/gi,
  },
  { reason: 'dsn_password', pattern: /(?:^|[\s;,?&(])(?:password|passwd|pwd)\s*=\s*[^\s;&,)'"]+/gi },
  {
    reason: 'json_secret_field',
    // Quotes may be escaped: JSON inside a JSON string (a model's tool call arguments) is common in GenAI spans.
    pattern:
      /\\*["'](?:password|passwd|pwd|secret|client_secret|api_?key|access_token|refresh_token|id_token|token|private_key)\\*["']\s*:\s*\\*["'][^"']+["']/gi,
  },
  {
    reason: 'bearer_token',
    pattern: /\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/gi,
    // "Bearer authentication_required" in an error message is prose, not a token.
    confirm: (m) => looksRandom(m[0].slice(m[0].search(/\s/)).trim()),
  },
  { reason: 'basic_auth', pattern: /\bBasic\s+([A-Za-z0-9+/]{6,}={0,2})/gi, confirm: (m) => isBasicCredentials(m[1] ?? '') },
];

/** The reason the value itself looks like (or contains) a secret, whatever its key. */
export function detectSecretValue(value: string): SecretReason | undefined {
  // latin1 keeps every ASCII character as one byte, which is all the triggers look at.
  if (!hasSecretTrigger(Buffer.from(value, 'latin1'))) return undefined;
  return matchSecretShape(value);
}

/** The value-shape detectors without the hasSecretTrigger prefilter (which must never change the answer). */
export function matchSecretShape(value: string): SecretReason | undefined {
  for (const detector of VALUE_DETECTORS) {
    for (const match of value.matchAll(detector.pattern)) {
      if (detector.confirm === undefined || detector.confirm(match)) return detector.reason;
    }
  }
  return undefined;
}

/** Leaf key names whose value is a secret whatever it looks like (after camelCase → snake_case). */
const SECRET_LEAF_NAMES = new Set([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'client_secret',
  'app_secret',
  'secret_key',
  'secret_access_key',
  'private_key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'auth_token',
  'session_token',
  'security_token',
  'bearer_token',
  'api_token',
  'api_key',
  'apikey',
  'x_api_key',
  'authorization',
  'proxy_authorization',
  'cookie',
  'set_cookie',
]);
const SECRET_LEAF_SUFFIXES = [
  '_password',
  '_passwd',
  '_passphrase',
  '_secret',
  '_token',
  '_api_key',
  '_apikey',
  '_private_key',
  '_secret_key',
  '_secret_access_key',
];

/**
 * The key names a secret by itself: its last dotted segment is `password`, `client_secret`, `token`,
 * `authorization` (so `http.request.header.authorization`), `set-cookie`, or ends in `_password`,
 * `_secret`, `_token`, `_api_key` …
 */
export function isSecretKeyName(key: string): boolean {
  const leaf = words(lastSegment(key)).join('_');
  if (SECRET_LEAF_NAMES.has(leaf)) return true;
  return SECRET_LEAF_SUFFIXES.some((suffix) => leaf.endsWith(suffix));
}

/** Words that, contained in a key word, suggest the value is key material. */
const SECRET_WORD_PARTS = ['secret', 'token', 'password', 'passwd', 'passphrase', 'credential', 'cookie', 'signature', 'apikey'];
/** Words that suggest it only as whole words (`auth` but not `author`, `private` but not `privatelink`). */
const SECRET_WORDS = new Set(['pwd', 'auth', 'authn', 'authorization', 'creds', 'session', 'private', 'sig']);
/** Word pairs: `api_key`, `access_key`, `signing_key` … (`key` alone is a cache or object key). */
const SECRET_KEY_QUALIFIERS = new Set(['api', 'access', 'private', 'secret', 'signing', 'encryption', 'master', 'shared']);
/**
 * A key ending in one of these describes a secret rather than holding it (`nhi.token.id`,
 * `credential.fingerprint`, `session.expires_at`): its value is an identifier or metadata.
 */
const DESCRIPTOR_WORDS = new Set([
  'id', 'ids', 'uid', 'jti', 'kid', 'name', 'names', 'type', 'kind', 'hash', 'digest', 'fingerprint', 'sha',
  'version', 'revision', 'commit', 'count', 'length', 'size', 'url', 'uri', 'path', 'ttl', 'at', 'ms',
  'seconds', 'time', 'timestamp', 'expires', 'expiry', 'expiration', 'issuer', 'iss', 'audience', 'aud',
  'scope', 'scopes', 'status', 'state', 'provider', 'method', 'source', 'target', 'ref', 'owner', 'label',
  'labels', 'reason', 'error', 'enabled', 'required', 'format', 'algorithm', 'alg', 'location', 'store',
  'engine', 'mount', 'policy', 'role', 'subject', 'sub', 'email', 'user', 'username', 'principal',
  'account', 'endpoint', 'host', 'port', 'region', 'duration', 'outcome', 'result', 'decision',
]);

/**
 * The key suggests a secret (DESIGN §7: it mentions a secret, token, password, credential, auth,
 * session, cookie, signature, api key …) and does not merely describe one; only then do high-entropy
 * values count as key material.
 */
export function keySuggestsSecret(key: string): boolean {
  const all = words(key);
  const last = all[all.length - 1];
  if (last === undefined || DESCRIPTOR_WORDS.has(last)) return false;
  for (let i = 0; i < all.length; i++) {
    const word = all[i]!;
    if (SECRET_WORDS.has(word)) return true;
    if (SECRET_WORD_PARTS.some((part) => word.includes(part))) return true;
    if (word === 'key' && i > 0 && SECRET_KEY_QUALIFIERS.has(all[i - 1]!)) return true;
  }
  return false;
}

/** Minimum length of key material recognised by entropy alone. */
export const HIGH_ENTROPY_MIN_LENGTH = 32;
/** Bits per character: random hex reaches ~3.7 over 32 characters, random base64 ~4.6. */
const HEX_ENTROPY_THRESHOLD = 3.0;
const BASE64_ENTROPY_THRESHOLD = 4.0;
const KEY_MATERIAL = /^[A-Za-z0-9+/=_.~-]+$/;
const HEX = /^[0-9a-fA-F]+$/;
const AWS_SECRET_ACCESS_KEY = /^[A-Za-z0-9/+]{40}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Lowercase dash- or dot-separated names (k8s objects, hostnames): readable, whatever their length. */
const DNS_NAME = /^[a-z0-9]+(?:[-.][a-z0-9]+){2,}$/;

/**
 * Key material recognised by entropy: ≥ 32 characters of base64/hex alphabet with high Shannon
 * entropy. Callers apply it only under a key that suggests a secret.
 */
export function detectKeyMaterial(value: string): 'aws_secret_key' | 'high_entropy' | undefined {
  const v = value.trim();
  if (v.length < HIGH_ENTROPY_MIN_LENGTH || v.length > 16_384) return undefined;
  if (!KEY_MATERIAL.test(v) || UUID.test(v) || DNS_NAME.test(v)) return undefined;
  const entropy = shannonEntropy(v);
  if (HEX.test(v)) return entropy >= HEX_ENTROPY_THRESHOLD ? 'high_entropy' : undefined;
  if (entropy < BASE64_ENTROPY_THRESHOLD || !looksRandom(v)) return undefined;
  return AWS_SECRET_ACCESS_KEY.test(v) && hasAllCharClasses(v) ? 'aws_secret_key' : 'high_entropy';
}

/**
 * The built-in verdict on one attribute: the value's shape first (the most telling reason), then the
 * key name alone, then entropy under a secret-suggesting key. `key` is the attribute key (the dotted
 * path for a value nested in a kvlist).
 */
export function detectSecret(key: string, value: string): SecretReason | undefined {
  if (value.length === 0) return undefined;
  const shape = detectSecretValue(value);
  if (shape !== undefined) return shape;
  if (isSecretKeyName(key)) return 'key_name';
  return keySuggestsSecret(key) ? detectKeyMaterial(value) : undefined;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

/** The key's words, lowercase: `http.request.header.X-Api-Key` → http, request, header, x, api, key. */
export function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function lastSegment(key: string): string {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? key : key.slice(dot + 1);
}

/** Digits with letters, or both letter cases: what generated tokens have and prose does not. */
function looksRandom(value: string): boolean {
  const lower = /[a-z]/.test(value);
  const upper = /[A-Z]/.test(value);
  const digit = /[0-9]/.test(value);
  return (digit && (lower || upper)) || (lower && upper);
}

function hasAllCharClasses(value: string): boolean {
  return /[a-z]/.test(value) && /[A-Z]/.test(value) && /[0-9]/.test(value);
}

/** A JWS/JWE: the first segment is base64url JSON naming an `alg`. */
function isJwt(token: string): boolean {
  const header = decodeJsonObject(token.slice(0, token.indexOf('.')));
  return header !== undefined && typeof header.alg === 'string';
}

function decodeJsonObject(base64url: string): Record<string, unknown> | undefined {
  const text = Buffer.from(base64url, 'base64url').toString('utf8');
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    // Not JSON, so not a JWT header: the answer is "no", nothing failed.
    return undefined;
  }
}

/** `Basic <b64>` whose payload decodes to printable `user:password`. */
function isBasicCredentials(base64: string): boolean {
  const text = Buffer.from(base64, 'base64').toString('latin1');
  return text.includes(':') && /^[\x20-\x7e]+$/.test(text);
}

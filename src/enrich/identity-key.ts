/**
 * Identity keys: the many spellings one non-human identity goes by (DESIGN §6). Each key is reduced to a
 * match key so that equivalent spellings meet in one Map entry and resolution stays O(1).
 */

const SPIFFE_PREFIX = 'spiffe://';
/** SPIFFE ID spec §2.1: trust domain names use lowercase letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
/** SPIFFE ID spec §2.2: path segments use letters, digits, dots, dashes and underscores. */
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The path the Kubernetes SPIFFE convention (and Istio) gives a service account. */
const K8S_SA_PATH = /^\/ns\/([^/]+)\/sa\/([^/]+)$/;
const K8S_SA_PREFIX = 'system:serviceaccount:';
/** `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`; session names cannot contain `/`. */
const STS_ASSUMED_ROLE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
/** `arn:PARTITION:iam::ACCOUNT:role/PATH/ROLE`; the path is optional. */
const IAM_ROLE = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

export interface SpiffeId {
  /** Lowercased, as SPIFFE compares trust domains case-insensitively. */
  readonly trustDomain: string;
  /** Exactly as written, without trailing slashes; '' for the trust domain itself. */
  readonly path: string;
}

/** Splits a `spiffe://` id (scheme matched case-insensitively); undefined for anything else. */
export function parseSpiffeId(key: string): SpiffeId | undefined {
  if (key.length < SPIFFE_PREFIX.length || key.slice(0, SPIFFE_PREFIX.length).toLowerCase() !== SPIFFE_PREFIX) {
    return undefined;
  }
  const rest = key.slice(SPIFFE_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
  const path = slash === -1 ? '' : rest.slice(slash).replace(/\/+$/, '');
  return { trustDomain, path };
}

/** Why `key` is not a well-formed SPIFFE ID, or undefined when it is one (or is not a spiffe:// key). */
export function spiffeIdProblem(key: string): string | undefined {
  const id = parseSpiffeId(key);
  if (id === undefined) return undefined;
  if (!TRUST_DOMAIN.test(id.trustDomain)) return 'not a SPIFFE ID: the trust domain must be letters, digits, ".", "-" or "_"';
  if (id.path === '') return undefined;
  const segments = id.path.slice(1).split('/');
  if (segments.some((s) => s === '.' || s === '..' || !PATH_SEGMENT.test(s))) {
    return 'not a SPIFFE ID: path segments must be non-empty letters, digits, ".", "-" or "_" (and not "." or "..")';
  }
  return undefined;
}

/**
 * A trust domain as written in config (`prod.example.org`, `spiffe://prod.example.org/` or upper case)
 * reduced to the lowercase name; undefined when it is not a valid trust domain name.
 */
export function normaliseTrustDomain(entry: string): string | undefined {
  let name = entry.trim();
  if (name.slice(0, SPIFFE_PREFIX.length).toLowerCase() === SPIFFE_PREFIX) name = name.slice(SPIFFE_PREFIX.length);
  name = name.replace(/\/+$/, '').toLowerCase();
  return TRUST_DOMAIN.test(name) ? name : undefined;
}

/**
 * The match key of an identity key: equal match keys mean the same identity.
 * - trimmed;
 * - SPIFFE: scheme and trust domain lowercased, path exact, trailing slashes dropped; in one of
 *   `k8sTrustDomains`, `/ns/NS/sa/NAME` becomes `system:serviceaccount:NS:NAME`;
 * - AWS: an STS assumed-role ARN becomes its IAM role ARN, and an IAM role ARN drops its path — role
 *   names are unique within an account whatever their path, and assumed-role ARNs omit the path;
 * - anything else: exact.
 * Idempotent: normalising a match key returns it unchanged.
 */
export function normaliseIdentityKey(key: string, k8sTrustDomains: ReadonlySet<string>): string {
  const trimmed = key.trim();
  const spiffe = parseSpiffeId(trimmed);
  if (spiffe !== undefined) {
    if (k8sTrustDomains.has(spiffe.trustDomain)) {
      const sa = K8S_SA_PATH.exec(spiffe.path);
      if (sa !== null) return `${K8S_SA_PREFIX}${sa[1]!}:${sa[2]!}`;
    }
    return `${SPIFFE_PREFIX}${spiffe.trustDomain}${spiffe.path}`;
  }
  if (trimmed.startsWith('arn:')) {
    const role = STS_ASSUMED_ROLE.exec(trimmed) ?? IAM_ROLE.exec(trimmed);
    if (role !== null) return `arn:${role[1]!}:iam::${role[2]!}:role/${role[3]!}`;
  }
  return trimmed;
}

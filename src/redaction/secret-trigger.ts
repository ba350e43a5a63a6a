/**
 * The prefilter of value-shape detection (detectors.ts): a single pass over a value's bytes that clears
 * nearly every value without making a string or running a regex. Ingest runs it on every attribute
 * value of every span, so it is written for speed: a byte-pair table, then a detailed check only at the
 * few pairs that can start a trigger.
 */

const lit = (word: string): Buffer => Buffer.from(word, 'latin1');
const ascii = (words: readonly string[]): Buffer[] => words.map(lit);
const JSON_SECRET_FIELDS = ascii([
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'api_key',
  'apikey',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'private_key',
]);
const QUERY_SECRET_NAMES = ascii([
  'access_token',
  'id_token',
  'refresh_token',
  'api_key',
  'apikey',
  'client_secret',
  'token',
  'code',
  'x-amz-signature',
  'x-goog-signature',
  'signature',
]);
const DSN_PASSWORD_NAMES = ascii(['password', 'passwd', 'pwd']);
const UPPER_A_PREFIXES = ascii(['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AIza', 'AGE-SECRET-KEY-1']);
const GITLAB_PREFIXES = ascii(['pat-', 'dt-', 'rt-', 'ptt-', 'ft-', 'imt-', 'oas-', 'cbt-', 'soat-', 'agent-']);
const BEGIN = lit('-----BEGIN');
const PUTTY = lit('PuTTY-User-Key-File-');
const GITHUB_PAT = lit('github_pat_');
const SLACK_HOOKS = lit('hooks.slack.com/');
const XAPP = lit('xapp-');
const XOX = lit('xox');
const LIVE = lit('_live_');
const TEST = lit('_test_');
const SIG = lit('sig=');
const NPM = lit('npm_');
const PYPI = lit('pypi-AgE');
const DOCKER = lit('dckr_pat_');
const HF = lit('hf_');
const WHSEC = lit('whsec_');
const YA29 = lit('ya29.');
const ACCOUNT_KEY = lit('accountkey');
const SHARED_ACCESS_KEY = lit('sharedaccesskey');
const SHARED_SECRET_VALUE = lit('sharedsecretvalue');
const BEARER = lit('bearer');
const BASIC = lit('basic');

/**
 * The first two characters (ASCII-lowercased by `| 0x20`) of every trigger: triggerAt is consulted only
 * at these pairs, so a trigger whose pair is missing here is never found (secret-trigger.test.ts checks).
 */
const TRIGGER_PAIR_LIST = [
  '--', ':/', 'q~', 'ak', 'as', 'ab', 'ac', 'ai', 'ag', 'be', 'ba', 'dc', 'ey', 'ew', 'gh', 'gi', 'gl', 'ho', 'hf', 'hv',
  'np', 'pu', 'py', 'pa', 'pw', 'rk', 'sk', 'si', 'sg', 'sh', 'wh', 'xa', 'xo', 'ya',
  ...['"', "'"].flatMap((quote) => ['p', 's', 'c', 'a', 'r', 'i', 't'].map((first) => quote + first)),
  ...['?', '&'].flatMap((mark) => ['a', 'i', 'r', 'c', 't', 'x', 's'].map((first) => mark + first)),
];
const TRIGGER_PAIRS = new Uint8Array(1 << 16);
for (const pair of TRIGGER_PAIR_LIST) TRIGGER_PAIRS[((pair.charCodeAt(0) | 0x20) << 8) | (pair.charCodeAt(1) | 0x20)] = 1;

/** The shortest value any detector can match (`pwd=x`). */
const MIN_DETECTABLE_LENGTH = 5;

/**
 * The prefilter over UTF-8 (or latin1) bytes `b[start, end)`: true when they contain something every
 * match of some detector starts with or contains (`ghp_`, `-----BEGIN`, `://…@`, `Bearer `…). A superset
 * test — a value it rejects matches no detector — and cheap: one pass over the bytes without making a
 * string, where a combined regex of the detectors costs several times more on the ids, names and URLs
 * that make up nearly all values. Every trigger is ASCII, so bytes of other characters never match.
 */
export function hasSecretTrigger(b: Uint8Array, start = 0, end = b.length): boolean {
  if (end - start < MIN_DETECTABLE_LENGTH) return false;
  // Legacy Vault tokens (`s.…`) are only recognised as the whole value.
  if (byteAt(b, end, start + 1) === 0x2e && isOneOf(b[start]!, 'sbr')) return true;
  const pairs = TRIGGER_PAIRS;
  let c = b[start]!;
  for (let i = start; i < end - 1; i++) {
    const next = b[i + 1]!;
    // Nearly every byte pair starts no trigger: one table lookup dismisses it.
    if (pairs[((c | 0x20) << 8) | (next | 0x20)] !== 0 && triggerAt(b, start, end, i, c)) return true;
    c = next;
  }
  return false;
}

/** The detailed check at a byte pair listed in TRIGGER_PAIRS; `c` is b[i], b[i + 1] exists. */
function triggerAt(b: Uint8Array, start: number, end: number, i: number, c: number): boolean {
  switch (c) {
    case 0x2d: // -
      return startsWith(b, end, i, BEGIN);
    case 0x3a: // :// with an @ after it
      return byteAt(b, end, i + 1) === 0x2f && byteAt(b, end, i + 2) === 0x2f && hasByte(b, end, i + 3, 0x40);
    case 0x51: // <digit>Q~ of an Azure client secret
      return byteAt(b, end, i + 1) === 0x7e && i > start && isDigit(b[i - 1]!);
    case 0x22: // "
    case 0x27: // '
      for (const field of JSON_SECRET_FIELDS) {
        if (isClosingQuote(b, end, i + field.length + 1) && startsWithCaseless(b, end, i + 1, field)) return true;
      }
      return false;
    case 0x3f: // ?
    case 0x26: // &
      for (const name of QUERY_SECRET_NAMES) {
        if (byteAt(b, end, i + name.length + 1) === 0x3d && startsWithCaseless(b, end, i + 1, name)) return true;
      }
      return false;
    case 0x41: // A
      for (const prefix of UPPER_A_PREFIXES) if (startsWith(b, end, i, prefix)) return true;
      return startsWithCaseless(b, end, i, ACCOUNT_KEY);
    case 0x50: // P
      return startsWith(b, end, i, PUTTY) || isPasswordAssignment(b, end, i);
    case 0x53: // S
      if (byteAt(b, end, i + 1) === 0x47) return byteAt(b, end, i + 2) === 0x2e; // SG.
      if (byteAt(b, end, i + 1) === 0x4b) return isHexRun(b, i + 2, end, 32); // SK + 32 hex
      return isShared(b, end, i);
    case 0x61: // a
      return startsWithCaseless(b, end, i, ACCOUNT_KEY);
    case 0x42: // B
    case 0x62: // b
      if (startsWithCaseless(b, end, i, BEARER)) return isSpace(byteAt(b, end, i + 6));
      return startsWithCaseless(b, end, i, BASIC) && isSpace(byteAt(b, end, i + 5));
    case 0x64: // d
      return startsWith(b, end, i, DOCKER);
    case 0x65: // e: a JWT header, base64url of `{"`, `{ ` or `{\n`
      return isOneOf(byteAt(b, end, i + 1), 'yw') && isBase64UrlRun(b, i + 2, end, 14);
    case 0x67: // g
      // ghp_ gho_ ghu_ ghs_ ghr_
      if (byteAt(b, end, i + 1) === 0x68) return isOneOf(byteAt(b, end, i + 2), 'pousr') && byteAt(b, end, i + 3) === 0x5f;
      if (byteAt(b, end, i + 1) === 0x6c) return GITLAB_PREFIXES.some((prefix) => startsWith(b, end, i + 2, prefix));
      return startsWith(b, end, i, GITHUB_PAT);
    case 0x68: // h
      if (byteAt(b, end, i + 1) === 0x76) return isOneOf(byteAt(b, end, i + 2), 'sbr') && byteAt(b, end, i + 3) === 0x2e;
      return startsWith(b, end, i, SLACK_HOOKS) || startsWith(b, end, i, HF);
    case 0x6e: // n
      return startsWith(b, end, i, NPM);
    case 0x70: // p
      return startsWith(b, end, i, PYPI) || isPasswordAssignment(b, end, i);
    case 0x72: // r
      return byteAt(b, end, i + 1) === 0x6b && (startsWith(b, end, i + 2, LIVE) || startsWith(b, end, i + 2, TEST));
    case 0x73: // s
      if (byteAt(b, end, i + 1) === 0x6b) {
        return byteAt(b, end, i + 2) === 0x2d || startsWith(b, end, i + 2, LIVE) || startsWith(b, end, i + 2, TEST);
      }
      return startsWith(b, end, i, SIG) || isShared(b, end, i);
    case 0x77: // w
      return startsWith(b, end, i, WHSEC);
    case 0x78: // x
      if (startsWith(b, end, i, XAPP)) return true;
      return startsWith(b, end, i, XOX) && isOneOf(byteAt(b, end, i + 3), 'abposer') && byteAt(b, end, i + 4) === 0x2d;
    case 0x79: // y
      return startsWith(b, end, i, YA29);
    default: // e.g. `Gh`: TRIGGER_PAIRS folds case, most triggers do not
      return false;
  }
}

/** `password=`, `passwd =`, `PWD=` … in any case. */
function isPasswordAssignment(b: Uint8Array, end: number, i: number): boolean {
  for (const word of DSN_PASSWORD_NAMES) {
    if (!startsWithCaseless(b, end, i, word)) continue;
    if (byteAt(b, end, skipSpaces(b, i + word.length, end)) === 0x3d) return true;
  }
  return false;
}

/** Azure's `SharedAccessKey=` / `SharedSecretValue=` in any case. */
function isShared(b: Uint8Array, end: number, i: number): boolean {
  return startsWithCaseless(b, end, i, SHARED_ACCESS_KEY) || startsWithCaseless(b, end, i, SHARED_SECRET_VALUE);
}

function byteAt(b: Uint8Array, end: number, k: number): number {
  return k < end ? b[k]! : 0;
}

/** A plain loop: Buffer#indexOf costs a native call, several times the whole scan of a short value. */
function hasByte(b: Uint8Array, end: number, from: number, byte: number): boolean {
  for (let k = from; k < end; k++) if (b[k] === byte) return true;
  return false;
}

/** `word` (ASCII) at b[at…], within `end`. */
function startsWith(b: Uint8Array, end: number, at: number, word: Uint8Array): boolean {
  if (at + word.length > end) return false;
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false;
  return true;
}

/** `word` (ASCII lowercase) at b[at…] in either case, within `end`. */
function startsWithCaseless(b: Uint8Array, end: number, at: number, word: Uint8Array): boolean {
  if (at + word.length > end) return false;
  for (let k = 0; k < word.length; k++) {
    const c = b[at + k]!;
    const w = word[k]!;
    if (c !== w && !(w >= 0x61 && w <= 0x7a && c === w - 0x20)) return false;
  }
  return true;
}

function isOneOf(c: number, chars: string): boolean {
  return c !== 0 && chars.includes(String.fromCharCode(c));
}

/** A quote at j, escaped or not: JSON inside a JSON string writes `\"password\"`. */
function isClosingQuote(b: Uint8Array, end: number, j: number): boolean {
  while (byteAt(b, end, j) === 0x5c) j++;
  return isQuote(byteAt(b, end, j));
}

function isQuote(c: number): boolean {
  return c === 0x22 || c === 0x27;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** ASCII whitespace, or any non-ASCII byte (`\s` also matches Unicode spaces such as U+00A0). */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c >= 0x80;
}

function skipSpaces(b: Uint8Array, at: number, end: number): number {
  while (at < end && isSpace(b[at]!)) at++;
  return at;
}

function isBase64UrlRun(b: Uint8Array, at: number, end: number, length: number): boolean {
  if (at + length > end) return false;
  for (let k = at; k < at + length; k++) {
    const c = b[k]!;
    const letter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    if (!letter && !isDigit(c) && c !== 0x2d && c !== 0x5f) return false;
  }
  return true;
}

function isHexRun(b: Uint8Array, at: number, end: number, length: number): boolean {
  if (at + length > end) return false;
  for (let k = at; k < at + length; k++) {
    const c = b[k]! | 0x20;
    if (!isDigit(c) && !(c >= 0x61 && c <= 0x66)) return false;
  }
  return true;
}


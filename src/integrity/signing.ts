import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createKeyFile } from '../key-file.js';

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** First 8 bytes of SHA-256 over the SPKI public key, in hex. */
  readonly keyId: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * Loads the Ed25519 signing key (PKCS#8 PEM). When the file does not exist it is created (mode 0600)
 * with its public key beside it (`<file>.pub`), which auditors take to verify offline.
 */
export function loadOrCreateSigningKey(path: string): SigningKey {
  if (!existsSync(path)) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    if (createKeyFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600)) {
      writeFileSync(`${path}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    }
  }
  const privateKey = createPrivateKey(readFileSync(path));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${path}: signing key must be Ed25519`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export function loadPublicKey(path: string): KeyObject {
  const key = createPublicKey(readFileSync(path));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path}: public key must be Ed25519`);
  return key;
}

export function signText(key: SigningKey, text: string): string {
  return sign(null, Buffer.from(text), key.privateKey).toString('base64');
}

export function verifyText(publicKey: KeyObject, text: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(text), publicKey, Buffer.from(signature, 'base64'));
  } catch (err) {
    if (err instanceof Error) return false; // malformed signature bytes: not a valid signature
    throw err;
  }
}

/**
 * A checkpoint in the C2SP signed-note shape: origin line, tree size, base64 head hash, then the
 * signature line "— <key id> <signature>". The signed text is the body before the blank line.
 */
export function checkpointBody(origin: string, size: number, headHashHex: string, timeIso: string): string {
  return `${origin}\n${size}\n${Buffer.from(headHashHex, 'hex').toString('base64')}\ntime ${timeIso}\n`;
}

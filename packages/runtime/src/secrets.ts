import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * AES-256-GCM envelope for secrets at rest and in job payloads:
 * `v1.<keyId>.<nonce>.<ciphertext>.<tag>` (base64url parts). The key id is the first 8 hex
 * digits of SHA-256 over the key, so retired keys can still open what they sealed.
 */
export interface Keyring {
  currentId: string;
  keys: Map<string, Buffer>;
}

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Builds a keyring from `ENCRYPTION_KEY` and a comma-separated `ENCRYPTION_KEYS_OLD`. */
export function createKeyring(current: string, old: string = ''): Keyring {
  const decode = (text: string) => {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new Error('an encryption key is not 32 bytes of base64');
    return key;
  };
  const currentKey = decode(current);
  const keys = new Map<string, Buffer>([[keyId(currentKey), currentKey]]);
  for (const text of old.split(',').filter((part) => part.trim())) {
    const key = decode(text);
    keys.set(keyId(key), key);
  }
  return { currentId: keyId(currentKey), keys };
}

export function sealSecret(keyring: Keyring, plaintext: string): string {
  const key = keyring.keys.get(keyring.currentId)!;
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const parts = [nonce, body, cipher.getAuthTag()].map((b) => b.toString('base64url'));
  return ['v1', keyring.currentId, ...parts].join('.');
}

export class SecretError extends Error {}

export function openSecret(keyring: Keyring, sealed: string): string {
  const [version, id, nonce, body, tag] = sealed.split('.');
  if (version !== 'v1' || !id || nonce === undefined || body === undefined || !tag) {
    throw new SecretError('sealed secret is malformed');
  }
  const key = keyring.keys.get(id);
  if (!key) throw new SecretError(`no encryption key with id ${id} is configured`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  } catch (cause) {
    throw new SecretError('sealed secret failed authentication', { cause });
  }
}

/** True when a sealed value was sealed under a key other than the current one. */
export function needsReseal(keyring: Keyring, sealed: string): boolean {
  return sealed.split('.')[1] !== keyring.currentId;
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokensEqual(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

import { describe, expect, it } from 'vitest';
import {
  createKeyring,
  needsReseal,
  openSecret,
  sealSecret,
  SecretError,
  tokensEqual,
} from '../src/secrets.js';

const oldKey = Buffer.alloc(32, 1).toString('base64');
const newKey = Buffer.alloc(32, 2).toString('base64');

describe('secret sealing', () => {
  it('round-trips with a fresh nonce each time and no plaintext in the envelope', () => {
    const ring = createKeyring(newKey);
    const a = sealSecret(ring, 'sk-distinctive-secret');
    const b = sealSecret(ring, 'sk-distinctive-secret');
    expect(a).not.toBe(b);
    expect(a).not.toContain('distinctive');
    expect(openSecret(ring, a)).toBe('sk-distinctive-secret');
  });

  it('opens values sealed under a retired key and marks them for re-sealing', () => {
    const sealed = sealSecret(createKeyring(oldKey), 'secret');
    const rotated = createKeyring(newKey, oldKey);
    expect(openSecret(rotated, sealed)).toBe('secret');
    expect(needsReseal(rotated, sealed)).toBe(true);
    expect(needsReseal(rotated, sealSecret(rotated, 'secret'))).toBe(false);
  });

  it('refuses tampered, malformed and unknown-key values', () => {
    const ring = createKeyring(newKey);
    const sealed = sealSecret(ring, 'secret');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => openSecret(ring, parts.join('.'))).toThrow(SecretError);
    expect(() => openSecret(ring, 'not-sealed')).toThrow(SecretError);
    expect(() => openSecret(createKeyring(oldKey), sealed)).toThrow(/no encryption key/);
  });

  it('compares service tokens by content', () => {
    expect(tokensEqual('a-long-service-token', 'a-long-service-token')).toBe(true);
    expect(tokensEqual('a-long-service-tokem', 'a-long-service-token')).toBe(false);
    expect(tokensEqual(undefined, 'a-long-service-token')).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';

/** Prefixes make a pasted id say what it is. */
export const ID_PREFIX = {
  request: 'req',
  user: 'usr',
  model: 'mdl',
  apiKey: 'key',
  entry: 'ent',
  providerKey: 'pk',
} as const;
export type IdKind = keyof typeof ID_PREFIX;

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A random id such as `req_3k9x...`: 20 base-36 characters, about 103 bits. */
export function newId(kind: IdKind): string {
  const bytes = randomBytes(20);
  let body = '';
  for (const byte of bytes) body += ALPHABET[byte % 36];
  return `${ID_PREFIX[kind]}_${body}`;
}

/** Request ids accepted from clients (`x-request-id`): printable, bounded, no spaces. */
export const REQUEST_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

import { randomFillSync } from 'node:crypto';

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

const ID_BYTES = 20;

/**
 * Random bytes drawn from the system generator a few kilobytes at a time: billing makes several
 * ids per request, and one generator call per id cost more than everything else the id needs.
 */
const pool = Buffer.alloc(ID_BYTES * 256);
let poolOffset = pool.length;

/** A random id such as `req_3k9x...`: 20 base-36 characters, about 103 bits. */
export function newId(kind: IdKind): string {
  if (poolOffset + ID_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let body = '';
  for (let i = poolOffset; i < poolOffset + ID_BYTES; i++) body += ALPHABET[pool[i]! % 36];
  poolOffset += ID_BYTES;
  return `${ID_PREFIX[kind]}_${body}`;
}

/** Request ids accepted from clients (`x-request-id`): printable, bounded, no spaces. */
export const REQUEST_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

import { createHmac, randomFillSync } from 'node:crypto';

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

function idFrom(kind: IdKind, bytes: Uint8Array): string {
  let body = '';
  for (const byte of bytes.subarray(0, ID_BYTES)) body += ALPHABET[byte % 36];
  return `${ID_PREFIX[kind]}_${body}`;
}

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
  const id = idFrom(kind, pool.subarray(poolOffset, poolOffset + ID_BYTES));
  poolOffset += ID_BYTES;
  return id;
}

/** Request ids as services pass them to each other (billing, queue, event streams). */
export const REQUEST_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * What a client may send as `x-request-id`: 8 to 128 letters, digits or `_ . : -` (a UUID
 * fits). Shorter ids are refused: they are guessed or repeated by accident too easily.
 */
export const CLIENT_REQUEST_ID_RE = /^[A-Za-z0-9_.:-]{8,128}$/;

/**
 * The request id of a request whose client sent `x-request-id`: derived from that value and
 * the API key it came with. Each key has its own namespace, so no caller can take, collide
 * with or probe another caller's ids, while the same key sending the same value gets the same
 * id (which billing then refuses as a reuse). Shaped like `newId('request')`.
 */
export function clientRequestId(apiKey: string, clientValue: string): string {
  return idFrom('request', createHmac('sha256', apiKey).update(clientValue).digest());
}

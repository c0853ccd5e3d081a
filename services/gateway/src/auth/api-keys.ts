import { createHash, randomBytes } from 'node:crypto';
import { AppError, newId } from '@creditgate/contracts';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';

/**
 * User API keys: `cg_` plus 43 random base64url characters (256 bits). Only the SHA-256 hash
 * and a short visible prefix are stored, so a database dump yields no usable key and the key
 * is shown exactly once, when it is created.
 */
const KEY_PREFIX = 'cg_';
const VISIBLE_CHARS = 10;

/**
 * An API key's id as `key:list` shows it. Checked by pattern, so a secret key pasted in its place
 * is refused by a message that never repeats it.
 */
export const apiKeyId = z
  .string()
  .regex(/^key_[0-9a-z]{1,60}$/, 'must be an API key id (key_..., as listed), not the key itself');

export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The stored lookup value: an unsalted hash is enough for a 256-bit random secret. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function visiblePrefix(key: string): string {
  return key.slice(0, VISIBLE_CHARS);
}

/** A key as its owner may see it after creation: never the key or its hash. */
export interface ApiKeySummary {
  id: string;
  prefix: string;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

type Db = Pick<PrismaClient, 'apiKey' | 'user'>;

export async function createApiKey(
  db: Db,
  userId: string,
  name: string | null = null,
): Promise<ApiKeySummary & { apiKey: string }> {
  const user = await db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new AppError('not_found', `user ${userId} does not exist`);

  const apiKey = generateApiKey();
  const row = await db.apiKey.create({
    data: {
      id: newId('apiKey'),
      userId,
      hash: hashApiKey(apiKey),
      prefix: visiblePrefix(apiKey),
      name,
    },
  });
  return { ...summarize(row), apiKey };
}

export async function listApiKeys(db: Db, userId: string): Promise<ApiKeySummary[]> {
  const rows = await db.apiKey.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } });
  return rows.map(summarize);
}

/**
 * Revokes a key. With `ownerId`, a key of another user answers `not_found`, exactly like an id
 * that does not exist, so ids cannot be probed. Revoking twice keeps the first revocation time.
 */
export async function revokeApiKey(
  db: Db,
  keyId: string,
  ownerId?: string,
): Promise<ApiKeySummary> {
  const row = await db.apiKey.findUnique({ where: { id: keyId } });
  if (!row || (ownerId !== undefined && row.userId !== ownerId)) {
    throw new AppError('not_found', `API key ${keyId} does not exist`);
  }
  if (row.revokedAt) return summarize(row);
  return summarize(
    await db.apiKey.update({ where: { id: keyId }, data: { revokedAt: new Date() } }),
  );
}

function summarize(row: {
  id: string;
  prefix: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): ApiKeySummary {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

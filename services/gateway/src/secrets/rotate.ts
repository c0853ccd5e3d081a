import { needsReseal, openSecret, sealSecret, type Keyring } from '@creditgate/runtime/secrets';
import type { PrismaClient } from '../db.js';

const BATCH = 200;

interface SealedRow {
  id: string;
  sealed: string | null;
}

/**
 * Re-seals every stored secret (custom endpoint keys, BYO provider keys) under the current
 * `ENCRYPTION_KEY`. A row is rewritten only while it still holds the value that was read, so a
 * concurrent update is never overwritten with a stale secret; running it twice changes nothing.
 */
export async function rotateSecrets(prisma: PrismaClient, keyring: Keyring) {
  const customModels = await resealAll(
    keyring,
    async (cursor) =>
      (
        await prisma.customModel.findMany({
          where: { sealedApiKey: { not: null } },
          select: { id: true, sealedApiKey: true },
          ...page(cursor),
        })
      ).map((row) => ({ id: row.id, sealed: row.sealedApiKey })),
    async (id, from, to) =>
      (
        await prisma.customModel.updateMany({
          where: { id, sealedApiKey: from },
          data: { sealedApiKey: to },
        })
      ).count,
  );

  const providerKeys = await resealAll(
    keyring,
    async (cursor) =>
      (
        await prisma.providerKey.findMany({
          select: { id: true, sealedKey: true },
          ...page(cursor),
        })
      ).map((row) => ({ id: row.id, sealed: row.sealedKey })),
    async (id, from, to) =>
      (
        await prisma.providerKey.updateMany({
          where: { id, sealedKey: from },
          data: { sealedKey: to },
        })
      ).count,
  );

  return { keyId: keyring.currentId, resealed: { customModels, providerKeys } };
}

function page(cursor: string | undefined) {
  return {
    orderBy: { id: 'asc' as const },
    take: BATCH,
    ...(cursor ? { skip: 1, cursor: { id: cursor } } : {}),
  };
}

async function resealAll(
  keyring: Keyring,
  read: (cursor: string | undefined) => Promise<SealedRow[]>,
  write: (id: string, from: string, to: string) => Promise<number>,
): Promise<number> {
  let resealed = 0;
  for (let cursor: string | undefined; ;) {
    const rows = await read(cursor);
    for (const { id, sealed } of rows) {
      if (!sealed || !needsReseal(keyring, sealed)) continue;
      resealed += await write(id, sealed, sealSecret(keyring, openSecret(keyring, sealed)));
    }
    if (rows.length < BATCH) return resealed;
    cursor = rows.at(-1)!.id;
  }
}

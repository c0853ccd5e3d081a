import { AppError, newId, providerName, type Provider } from '@creditgate/contracts';
import { sealSecret, type Keyring } from '@creditgate/runtime/secrets';
import { z } from 'zod';
import type { PrismaClient } from '../db.js';

/**
 * A user's own keys for platform providers (BYO). Sealed at rest; only the provider and a short
 * prefix are ever shown back. The worker opens the sealed key, the gateway never does.
 */
export const setProviderKeyInput = z.object({
  provider: providerName,
  key: z.string().trim().min(8).max(4096),
});
export type SetProviderKeyInput = z.infer<typeof setProviderKeyInput>;

export interface ProviderKeySummary {
  provider: Provider;
  prefix: string;
  createdAt: string;
  updatedAt: string;
}

/** Enough of a provider key to recognise it ("sk-proj-Ab"), too little to use it. */
function providerKeyPrefix(key: string): string {
  return key.slice(0, Math.min(10, Math.floor(key.length / 3)));
}

export async function setProviderKey(
  deps: { prisma: PrismaClient; keyring: Keyring },
  userId: string,
  input: SetProviderKeyInput,
): Promise<ProviderKeySummary> {
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new AppError('not_found', `user ${userId} does not exist`);

  const sealedKey = sealSecret(deps.keyring, input.key);
  const prefix = providerKeyPrefix(input.key);
  const row = await deps.prisma.providerKey.upsert({
    where: { userId_provider: { userId, provider: input.provider } },
    create: { id: newId('providerKey'), userId, provider: input.provider, sealedKey, prefix },
    update: { sealedKey, prefix },
  });
  return summarize(row);
}

export async function listProviderKeys(
  prisma: PrismaClient,
  userId: string,
): Promise<ProviderKeySummary[]> {
  const rows = await prisma.providerKey.findMany({
    where: { userId },
    orderBy: { provider: 'asc' },
  });
  return rows.map(summarize);
}

export async function deleteProviderKey(
  prisma: PrismaClient,
  userId: string,
  provider: Provider,
): Promise<{ provider: Provider; deleted: true }> {
  const { count } = await prisma.providerKey.deleteMany({ where: { userId, provider } });
  if (count === 0) throw new AppError('not_found', `no ${provider} key is set`);
  return { provider, deleted: true };
}

function summarize(row: { provider: string; prefix: string; createdAt: Date; updatedAt: Date }) {
  return {
    provider: providerName.parse(row.provider),
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

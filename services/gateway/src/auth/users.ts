import { AppError, newId } from '@creditgate/contracts';
import type { PrismaClient } from '../db.js';
import { createApiKey } from './api-keys.js';

/** Creates a user with a first API key; the key is returned once and never stored in clear. */
export async function createUser(prisma: PrismaClient, name: string) {
  return prisma.$transaction(async (tx) => {
    const user = await tx.user.create({ data: { id: newId('user'), name } });
    const key = await createApiKey(tx, user.id, 'default');
    return { userId: user.id, name: user.name, apiKey: key.apiKey, keyId: key.id };
  });
}

export async function requireUser(prisma: PrismaClient, userId: string) {
  const user = await prisma.user.findUnique({ where: { id: userId } });
  if (!user) throw new AppError('not_found', `user ${userId} does not exist`);
  return user;
}

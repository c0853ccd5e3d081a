import type { Catalog, PublicModel } from '@creditgate/contracts';
import type { PrismaClient } from '../db.js';
import { listCustomModels } from './custom-models.js';
import { publicPlatformModel } from './public-shape.js';

/** Every model a user may call: the platform catalog, then the user's own custom models. */
export async function listModels(
  deps: { prisma: PrismaClient; catalog: Catalog },
  userId: string,
): Promise<PublicModel[]> {
  const custom = await listCustomModels(deps.prisma, userId);
  return [...deps.catalog.models.map(publicPlatformModel), ...custom];
}

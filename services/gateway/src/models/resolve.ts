import { AppError, ID_PREFIX, type Catalog, type PlatformModel } from '@creditgate/contracts';
import type { PrismaClient } from '../db.js';
import type { CustomModel } from '../generated/prisma/client.js';
import { findCustomModel } from './custom-models.js';

export type ResolvedModel =
  | { kind: 'platform'; id: string; model: PlatformModel; maxOutputTokens: number }
  | { kind: 'custom'; id: string; model: CustomModel; maxOutputTokens: number | null };

/**
 * Finds the model a request names: the caller's own custom model when the id carries the
 * custom model prefix, else a platform model from the catalog.
 */
export async function resolveModel(
  deps: { prisma: PrismaClient; catalog: Catalog },
  userId: string,
  modelId: string,
): Promise<ResolvedModel> {
  if (modelId.startsWith(`${ID_PREFIX.model}_`)) {
    const model = await findCustomModel(deps.prisma, userId, modelId);
    return { kind: 'custom', id: model.id, model, maxOutputTokens: model.maxOutputTokens };
  }

  const model = deps.catalog.byId.get(modelId);
  if (!model) throw new AppError('model_not_found', `model ${modelId} does not exist`);
  return { kind: 'platform', id: model.id, model, maxOutputTokens: model.maxOutputTokens };
}

import {
  AppError,
  newId,
  type CreateCustomModelInput,
  type PublicModel,
  type UpdateCustomModelInput,
} from '@creditgate/contracts';
import { sealSecret, type Keyring } from '@creditgate/runtime/secrets';
import type { PrismaClient } from '../db.js';
import type { CustomModel } from '../generated/prisma/client.js';
import { assertBaseUrlAllowed, type BaseUrlGuard } from './base-url-guard.js';
import { publicCustomModel } from './public-shape.js';

/**
 * A user's own OpenAI-compatible endpoints. Every lookup is scoped to the owner: another user's
 * model id answers `model_not_found`, exactly like an id that does not exist.
 */
export interface CustomModelDeps {
  prisma: PrismaClient;
  keyring: Keyring;
  guard: BaseUrlGuard;
}

export async function listCustomModels(
  prisma: PrismaClient,
  userId: string,
): Promise<PublicModel[]> {
  const rows = await prisma.customModel.findMany({
    where: { userId },
    orderBy: { createdAt: 'asc' },
  });
  return rows.map(publicCustomModel);
}

export async function findCustomModel(
  prisma: PrismaClient,
  userId: string,
  id: string,
): Promise<CustomModel> {
  const row = await prisma.customModel.findFirst({ where: { id, userId } });
  if (!row) throw new AppError('model_not_found', `model ${id} does not exist`);
  return row;
}

export async function createCustomModel(
  deps: CustomModelDeps,
  userId: string,
  input: CreateCustomModelInput,
): Promise<PublicModel> {
  await assertBaseUrlAllowed(deps.guard, input.baseUrl);

  const row = await uniqueName(input.name, () =>
    deps.prisma.customModel.create({
      data: {
        id: newId('model'),
        userId,
        name: input.name,
        providerModelId: input.providerModelId,
        baseUrl: input.baseUrl,
        sealedApiKey: input.apiKey ? sealSecret(deps.keyring, input.apiKey) : null,
        maxOutputTokens: input.maxOutputTokens ?? null,
      },
    }),
  );
  return publicCustomModel(row);
}

/**
 * Updates the given fields; `apiKey: null` removes the key, an absent `apiKey` keeps it, except
 * that a key is never kept for a base URL on another origin.
 */
export async function updateCustomModel(
  deps: CustomModelDeps,
  userId: string,
  input: UpdateCustomModelInput,
): Promise<PublicModel> {
  const current = await findCustomModel(deps.prisma, userId, input.id);
  if (input.baseUrl !== undefined) {
    await assertBaseUrlAllowed(deps.guard, input.baseUrl);
    // The stored key was given for one server. Pointing the model elsewhere must not carry it
    // along: whoever holds any of the user's API keys could otherwise collect it.
    if (
      current.sealedApiKey !== null &&
      input.apiKey === undefined &&
      new URL(input.baseUrl).origin !== new URL(current.baseUrl).origin
    ) {
      throw new AppError(
        'invalid_request_error',
        'baseUrl moves this model to another server: send its apiKey again, or apiKey: null to drop it',
      );
    }
  }

  const sealedApiKey =
    input.apiKey === undefined
      ? undefined
      : input.apiKey === null
        ? null
        : sealSecret(deps.keyring, input.apiKey);
  const row = await uniqueName(input.name ?? '', () =>
    deps.prisma.customModel.update({
      where: { id: input.id },
      data: {
        name: input.name,
        providerModelId: input.providerModelId,
        baseUrl: input.baseUrl,
        maxOutputTokens: input.maxOutputTokens,
        sealedApiKey,
      },
    }),
  );
  return publicCustomModel(row);
}

export async function deleteCustomModel(
  prisma: PrismaClient,
  userId: string,
  id: string,
): Promise<{ id: string; deleted: true }> {
  const { count } = await prisma.customModel.deleteMany({ where: { id, userId } });
  if (count === 0) throw new AppError('model_not_found', `model ${id} does not exist`);
  return { id, deleted: true };
}

/** Maps the (user, name) unique violation to a clear 400 instead of a database error. */
async function uniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if ((error as { code?: string }).code === 'P2002') {
      throw new AppError(
        'invalid_request_error',
        `you already have a custom model named "${name}"`,
      );
    }
    throw error;
  }
}

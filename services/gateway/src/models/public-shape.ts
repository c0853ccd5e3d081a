import type { PlatformModel, PublicModel } from '@creditgate/contracts';
import type { CustomModel } from '../generated/prisma/client.js';

/** Seconds since the epoch when this process loaded the catalog: the `created` of platform models. */
const CATALOG_LOADED_AT = Math.floor(Date.now() / 1000);

export function publicPlatformModel(model: PlatformModel): PublicModel {
  return {
    id: model.id,
    object: 'model',
    created: CATALOG_LOADED_AT,
    owned_by: model.provider,
    kind: 'platform',
    name: model.id,
    providerModelId: model.providerModelId,
    maxOutputTokens: model.maxOutputTokens,
  };
}

/** The owner's view of a custom model: whether a key is set, never the key itself. */
export function publicCustomModel(row: CustomModel): PublicModel {
  return {
    id: row.id,
    object: 'model',
    created: Math.floor(row.createdAt.getTime() / 1000),
    owned_by: row.userId,
    kind: 'custom',
    name: row.name,
    providerModelId: row.providerModelId,
    baseUrl: row.baseUrl,
    hasApiKey: row.sealedApiKey !== null,
    ...(row.maxOutputTokens === null ? {} : { maxOutputTokens: row.maxOutputTokens }),
  };
}

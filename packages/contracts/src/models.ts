import { z } from 'zod';

/** A model as any user may see it: never a key, only whether one is set. */
export const publicModelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
  kind: z.enum(['platform', 'custom']),
  name: z.string(),
  providerModelId: z.string(),
  /** Only on the owner's own custom models. */
  baseUrl: z.string().optional(),
  hasApiKey: z.boolean().optional(),
  maxOutputTokens: z.number().int().optional(),
});
export type PublicModel = z.infer<typeof publicModelSchema>;

export const customModelName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\w .:/-]+$/, 'may contain letters, digits, spaces and . : / - _');

export const createCustomModelInput = z.object({
  name: customModelName,
  providerModelId: z.string().trim().min(1).max(200),
  baseUrl: z.string().trim().min(1).max(2048),
  apiKey: z.string().min(1).max(4096).optional(),
  maxOutputTokens: z.number().int().positive().max(1_000_000).optional(),
});
export type CreateCustomModelInput = z.infer<typeof createCustomModelInput>;

export const updateCustomModelInput = createCustomModelInput.partial().extend({
  id: z.string().min(1).max(64),
  apiKey: z.string().min(1).max(4096).nullable().optional(),
});
export type UpdateCustomModelInput = z.infer<typeof updateCustomModelInput>;

import { z } from 'zod';
import { MAX_TOKENS } from './pricing.js';

export const MAX_MESSAGES = 1_000;

const contentPart = z.looseObject({ type: z.string().min(1) });

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
});
export type ChatMessage = z.infer<typeof message>;

/**
 * The OpenAI chat completion request as creditgate accepts it. Known sampling parameters are
 * validated; fields outside this list are dropped rather than forwarded to an upstream that
 * might bill or behave differently because of them.
 */
export const chatCompletionRequestSchema = z.object({
  model: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters'),
  messages: z
    .array(message)
    .min(1, 'messages must contain at least one message')
    .max(MAX_MESSAGES, `messages may contain at most ${MAX_MESSAGES} entries`),
  stream: z.boolean().default(false),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().max(MAX_TOKENS).nullish(),
  max_completion_tokens: z.number().int().positive().max(MAX_TOKENS).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  seed: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  user: z.string().max(256).nullish(),
  n: z.literal(1).nullish(),
  response_format: z.looseObject({ type: z.string() }).nullish(),
  tools: z
    .array(z.looseObject({ type: z.string() }))
    .max(128)
    .nullish(),
  tool_choice: z.union([z.string(), z.looseObject({ type: z.string() })]).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** The parameters forwarded upstream, with the output cap already decided by billing. */
export const upstreamParamsSchema = chatCompletionRequestSchema
  .omit({
    model: true,
    stream: true,
    stream_options: true,
    max_tokens: true,
    max_completion_tokens: true,
  })
  .extend({ max_tokens: z.number().int().positive().max(MAX_TOKENS).nullable() });
export type UpstreamParams = z.infer<typeof upstreamParamsSchema>;

/** OpenAI-style usage as returned to clients, with the cost in credits as OpenRouter reports it. */
export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
  cost?: string;
}

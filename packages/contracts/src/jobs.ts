import { z } from 'zod';
import { authorizeResult, requestId } from './billing.js';
import { providerName } from './catalog.js';
import { upstreamParamsSchema } from './chat.js';
import { usageSchema } from './pricing.js';

/** Name of the BullMQ queue the gateway fills and the inference workers drain. */
export const INFERENCE_QUEUE = 'inference';

/**
 * What BullMQ keeps of a finished job. A completed job goes at once. A failed one stays a day
 * (for the failed-jobs gauge and for operators), but only as `RetainedJob`: the worker strips
 * the prompt, parameters and sealed secrets from a job the moment it fails.
 */
export const JOB_RETENTION = {
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600, count: 10_000 },
} as const;

/**
 * Where the worker sends the request. Secrets travel sealed (see `sealSecret` in
 * @creditgate/runtime): the job payload in Redis never holds a plaintext key.
 */
export const jobRoute = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('custom_endpoint'),
    baseUrl: z.string(),
    providerModelId: z.string(),
    sealedApiKey: z.string().nullable(),
  }),
  z.object({
    kind: z.literal('platform'),
    provider: providerName,
    providerModelId: z.string(),
    /** The user's own provider key, present exactly when billing approved with `byo_key`. */
    sealedByoKey: z.string().nullable(),
  }),
]);
export type JobRoute = z.infer<typeof jobRoute>;

export const inferenceJobSchema = z.object({
  requestId,
  userId: z.string(),
  /** The model id the client asked for, echoed in every chunk. */
  modelId: z.string(),
  route: jobRoute,
  decision: authorizeResult,
  params: upstreamParamsSchema,
  /** Whether the client reads a stream (the worker streams upstream either way). */
  stream: z.boolean(),
  includeUsage: z.boolean(),
  /** Epoch milliseconds the gateway accepted the request; the chunk `created` time. */
  createdAt: z.number().int(),
});
export type InferenceJob = z.infer<typeof inferenceJobSchema>;

/** What a failed job keeps in Redis: who, which model and route, never prompt or secrets. */
export interface RetainedJob {
  requestId: string | null;
  userId: string | null;
  modelId: string | null;
  route: { kind: string | null; provider: string | null; providerModelId: string | null };
  reason: string | null;
  createdAt: number | null;
  redacted: true;
}

/** Reduces any job payload, valid or not, to what may stay in Redis after it failed. */
export function retainedJob(data: unknown): RetainedJob {
  const record = (value: unknown): Record<string, unknown> =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 200) : null);
  const job = record(data);
  const route = record(job.route);
  return {
    requestId: text(job.requestId),
    userId: text(job.userId),
    modelId: text(job.modelId),
    route: {
      kind: text(route.kind),
      provider: text(route.provider),
      providerModelId: text(route.providerModelId),
    },
    reason: text(record(job.decision).reason),
    createdAt: typeof job.createdAt === 'number' ? job.createdAt : null,
    redacted: true,
  };
}

/**
 * Events the worker appends to the request's Redis stream, read by the gateway in order.
 * `chunk.data` is the serialized OpenAI chunk, written to the client as-is.
 */
export const streamEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chunk'), data: z.string() }),
  z.object({
    type: z.literal('end'),
    finishReason: z.string().nullable(),
    usage: usageSchema,
    usageEstimated: z.boolean(),
    /** Credits burned, decimal string; "0" for unmetered routes. */
    cost: z.string(),
  }),
  z.object({
    type: z.literal('error'),
    code: z.enum(['upstream_error', 'upstream_timeout', 'internal_error']),
    message: z.string(),
  }),
]);
export type StreamEvent = z.infer<typeof streamEventSchema>;

/** Every Redis key the stack writes lives under the operator's `QUEUE_PREFIX`. */
export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own prefix; the queue is `INFERENCE_QUEUE` under it. */
    bullPrefix: prefix,
    events: (id: string) => `${prefix}:events:${id}`,
    cancelChannel: `${prefix}:cancel`,
    workerHeartbeat: (workerId: string) => `${prefix}:workers:${workerId}`,
    workerHeartbeatPattern: `${prefix}:workers:*`,
    rateLimit: `${prefix}:ratelimit:`,
  };
}

/**
 * Layout of one Redis stream entry. Chunks travel as written by the worker, several per entry:
 * field `c` holds their JSON texts joined by newlines (JSON text never holds a raw newline), so
 * neither side wraps, escapes or parses a chunk to move it. Every other event is one entry with
 * field `e`, the JSON of the StreamEvent.
 * Writer: `XADD key * ...encodeChunks(data)` / `...encodeStreamEvent(event)`; reader:
 * `decodeStreamEntry(fields)`.
 */
export const STREAM_CHUNKS_FIELD = 'c';
export const STREAM_EVENT_FIELD = 'e';

/** One entry holding a run of chunks, in order. `data` are JSON texts (JSON.stringify output). */
export function encodeChunks(data: readonly string[]): [string, string] {
  return [STREAM_CHUNKS_FIELD, data.join('\n')];
}

export function encodeStreamEvent(event: StreamEvent): [string, string] {
  if (event.type === 'chunk') return encodeChunks([event.data]);
  return [STREAM_EVENT_FIELD, JSON.stringify(event)];
}

/**
 * The events of one entry, from its flat field list (`[name, value, ...]`): the chunks of a `c`
 * entry, or the one event of an `e` entry. Throws on anything malformed.
 */
export function decodeStreamEntry(fields: readonly string[]): StreamEvent[] {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!;
    if (fields[i] === STREAM_CHUNKS_FIELD) {
      return value.split('\n').map((data) => ({ type: 'chunk', data }));
    }
    if (fields[i] === STREAM_EVENT_FIELD) {
      return [streamEventSchema.parse(JSON.parse(value))];
    }
  }
  throw new Error(
    `stream entry has neither a "${STREAM_CHUNKS_FIELD}" nor a "${STREAM_EVENT_FIELD}" field`,
  );
}

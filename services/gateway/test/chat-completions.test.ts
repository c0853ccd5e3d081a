import { clientRequestId, INFERENCE_QUEUE, redisKeys } from '@creditgate/contracts';
import { QueueEvents } from 'bullmq';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, startStack, type Stack } from '../../../test/support/stack.js';

/**
 * The request path up to the queue, with no worker running: what is refused, what is enqueued,
 * and what the enqueued job holds. A short stream timeout ends requests nobody answers.
 */
let stack: Stack;
let queueEvents: QueueEvents;

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { STREAM_TIMEOUT_MS: '300' } });
  queueEvents = new QueueEvents(INFERENCE_QUEUE, {
    connection: { url: stack.env.REDIS_URL },
    prefix: redisKeys(stack.prefix).bullPrefix,
  });
  await queueEvents.waitUntilReady();
});

afterAll(async () => {
  await queueEvents?.close();
  await stack?.close();
});

async function jobCount() {
  const counts = await stack.queue.getJobCounts(
    'waiting',
    'active',
    'delayed',
    'completed',
    'failed',
  );
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** `POST /v1/chat/completions`, with the client's own `x-request-id` when given. */
function post(apiKey: string, body: unknown, requestId?: string) {
  return fetch(`${stack.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${apiKey}`,
      'content-type': 'application/json',
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: JSON.stringify(body),
  });
}

const hello = [{ role: 'user' as const, content: 'Say hello' }];

/** Resolves when the job of `requestId` reaches the queue. */
function waitingJob(requestId: string) {
  return new Promise<void>((resolve) => {
    const onWaiting = ({ jobId }: { jobId: string }) => {
      if (jobId !== requestId) return;
      queueEvents.off('waiting', onWaiting);
      resolve();
    };
    queueEvents.on('waiting', onWaiting);
  });
}

describe('POST /v1/chat/completions before the queue', () => {
  it('answers 404 model_not_found for an unknown model', async () => {
    const user = await stack.createUser();
    const error = await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: 'no-such-model', messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });

  it('answers 400 invalid_request_error with the zod issues summarised', async () => {
    const user = await stack.createUser();
    const response = await post(user.apiKey, {
      model: 'gpt-4o-mini',
      messages: [],
      temperature: 7,
    });
    expect(response.status).toBe(400);
    const body = await envelope(response);
    expect(body.error.code).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/messages: .*at least one message/);
    expect(body.error.message).toMatch(/temperature/);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const user = await stack.createUser();
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    expect(response.status).toBe(400);
    expect((await envelope(response)).error.code).toBe('invalid_request_error');
  });

  it.each(['application/x-www-form-urlencoded', 'text/plain'])(
    'answers 400 naming the content type for a body sent as %s',
    async (contentType) => {
      const user = await stack.createUser();
      const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': contentType },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: hello }),
      });
      expect(response.status).toBe(400);
      expect((await envelope(response)).error).toEqual({
        message: 'send the body as JSON, with content-type: application/json',
        type: 'invalid_request_error',
        code: 'invalid_request_error',
      });
    },
  );

  it("answers 400 when max_tokens is above the model's output limit", async () => {
    const user = await stack.createUser();
    const response = await post(user.apiKey, {
      model: 'gpt-4o-mini',
      messages: hello,
      max_tokens: 1_000_000,
    });
    expect(response.status).toBe(400);
    expect((await envelope(response)).error.message).toMatch(/output limit of 16384/);
  });

  it('refuses a platform model with 402 insufficient_credits at zero balance and enqueues nothing', async () => {
    const user = await stack.createUser();
    const before = await jobCount();
    const error = await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_credits');
    expect(await jobCount()).toBe(before);
  });

  it('refuses a reused x-request-id with 409 and never enqueues it again', async () => {
    const user = await stack.createUser();
    const send = (content: string) =>
      post(
        user.apiKey,
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
        'req_reused_by_client_1',
      );

    expect((await send('first')).status).toBe(402);
    const before = await jobCount();
    const reused = await send('second');
    expect(reused.status).toBe(409);
    expect((await envelope(reused)).error.code).toBe('idempotency_conflict');
    expect(await jobCount()).toBe(before);
  });

  it('gives every API key its own x-request-id namespace: no squatting, no reading across users', async () => {
    const [alice, mallory] = [await stack.createUser('alice'), await stack.createUser('mallory')];
    const send = (apiKey: string) =>
      post(apiKey, { model: 'gpt-4o-mini', messages: hello }, 'order-0001-retry');

    // Mallory uses the id first; Alice's request with it is still hers, and only her own reuse
    // of it is a conflict.
    const squat = await send(mallory.apiKey);
    expect(squat.status).toBe(402);
    const own = await send(alice.apiKey);
    expect(own.status).toBe(402);
    expect(own.headers.get('x-request-id')).not.toBe(squat.headers.get('x-request-id'));
    expect((await send(alice.apiKey)).status).toBe(409);

    // Alice's request id, once known, shows Mallory nothing: answered like an unknown id.
    const aliceId = own.headers.get('x-request-id')!;
    const peek = await fetch(`${stack.gateway.url}/v1/generation?id=${aliceId}`, {
      headers: { authorization: `Bearer ${mallory.apiKey}` },
    });
    expect(peek.status).toBe(404);
    const unknown = await fetch(`${stack.gateway.url}/v1/generation?id=req_00000000000000000000`, {
      headers: { authorization: `Bearer ${mallory.apiKey}` },
    });
    expect(((await peek.json()) as { error: { message: string } }).error.message).toBe(
      ((await unknown.json()) as { error: { message: string } }).error.message.replace(
        'req_00000000000000000000',
        aliceId,
      ),
    );
    const mine = await fetch(`${stack.gateway.url}/v1/generation?id=${aliceId}`, {
      headers: { authorization: `Bearer ${alice.apiKey}` },
    });
    expect(((await mine.json()) as { data: { status: string } }).data.status).toBe('denied');
  });

  it('says how many output tokens the balance affords when max_tokens is too much for it', async () => {
    const user = await stack.createUser();
    await stack.mint(user.userId, '0.0001');
    const response = await post(user.apiKey, {
      model: 'gpt-4o-mini',
      messages: hello,
      max_tokens: 16_000,
    });
    expect(response.status).toBe(402);
    expect((await envelope(response)).error.message).toMatch(/affords at most \d+ output tokens/);
  });

  it('enqueues an approved request under its request id, with no plaintext secret in Redis', async () => {
    const user = await stack.createUser();
    const secret = 'sk-distinctive-custom-secret-123456';
    const model = await stack.trpc(user.apiKey).models.createCustom.mutate({
      name: 'my llama',
      providerModelId: 'llama3',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: secret,
    });

    const response = await post(
      user.apiKey,
      { model: model.id, messages: hello, max_tokens: 50 },
      'req_enqueue_check_1',
    );
    // Nobody works the queue here: the request times out after being enqueued.
    expect(response.status).toBe(504);
    const requestId = clientRequestId(user.apiKey, 'req_enqueue_check_1');
    expect(response.headers.get('x-request-id')).toBe(requestId);

    const job = await stack.queue.getJob(requestId);
    // A job nobody took is withdrawn when its request gives up.
    expect(job).toBeUndefined();
    const dump = await stack.dumpRedis();
    expect(dump).not.toContain(secret);
  });

  it("routes a platform model through the user's own provider key, sealed, without credits", async () => {
    const user = await stack.createUser();
    const byo = 'sk-proj-byo-distinctive-key-31415926';
    await stack.trpc(user.apiKey).providerKeys.set.mutate({ provider: 'openai', key: byo });

    const requestId = clientRequestId(user.apiKey, 'req_byo_job_check');
    const waiting = waitingJob(requestId);
    const pending = post(
      user.apiKey,
      { model: 'gpt-4o-mini', messages: hello },
      'req_byo_job_check',
    );
    await waiting;
    const data = (await stack.queue.getJob(requestId))!.data as Record<string, unknown>;
    expect(data).toMatchObject({
      route: { kind: 'platform', provider: 'openai', sealedByoKey: expect.stringMatching(/^v1\./) },
      decision: { decision: 'approved', reason: 'byo_key' },
    });
    expect(await stack.dumpRedis()).not.toContain(byo);
    await (await pending).text();
  });

  it("uses a provider key only for its own provider's models, whatever other keys are stored", async () => {
    const user = await stack.createUser();
    const trpc = stack.trpc(user.apiKey);
    await trpc.providerKeys.set.mutate({ provider: 'anthropic', key: 'sk-ant-byo-other-2718' });

    const error = await stack
      .openai(user.apiKey)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 402, code: 'insufficient_credits' });

    // With a key for each provider, the job carries the one of the model's provider.
    await trpc.providerKeys.set.mutate({ provider: 'openai', key: 'sk-proj-byo-own-1414' });
    const requestId = clientRequestId(user.apiKey, 'req_byo_two_keys');
    const waiting = waitingJob(requestId);
    const pending = post(
      user.apiKey,
      { model: 'gpt-4o-mini', messages: hello },
      'req_byo_two_keys',
    );
    await waiting;
    const { rows } = await stack.gateway.deps.sql.query<{ sealed_key: string }>(
      "SELECT sealed_key FROM provider_keys WHERE user_id = $1 AND provider = 'openai'",
      [user.userId],
    );
    const data = (await stack.queue.getJob(requestId))!.data as { route: unknown };
    expect(data.route).toMatchObject({ provider: 'openai', sealedByoKey: rows[0]!.sealed_key });
    await (await pending).text();
  });

  it("routes a tRPC chat stream through the user's own provider key as well", async () => {
    const user = await stack.createUser();
    const trpc = stack.trpc(user.apiKey);
    await trpc.providerKeys.set.mutate({
      provider: 'openai',
      key: 'sk-proj-byo-trpc-key-16180339',
    });

    // No credits: only the provider key can get the request approved and started.
    const first = await new Promise<unknown>((resolve, reject) => {
      const subscription = trpc.chat.stream.subscribe(
        { model: 'gpt-4o-mini', messages: hello },
        {
          onData: ({ data }) => {
            subscription.unsubscribe();
            resolve(data);
          },
          onError: reject,
        },
      );
    });
    expect(first).toMatchObject({ type: 'start', model: 'gpt-4o-mini' });
  });

  it('puts the job on the queue with the route billing approved and a sealed key only', async () => {
    const user = await stack.createUser();
    const secret = 'sk-another-distinctive-secret-987654';
    const model = await stack.trpc(user.apiKey).models.createCustom.mutate({
      name: 'queued',
      providerModelId: 'llama3',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: secret,
    });

    const requestId = clientRequestId(user.apiKey, 'req_queued_job_check');
    const waiting = waitingJob(requestId);
    const pending = post(
      user.apiKey,
      { model: model.id, messages: hello, stream: true },
      'req_queued_job_check',
    );
    await waiting;
    const data = (await stack.queue.getJob(requestId))!.data as Record<string, unknown>;
    expect(data).toMatchObject({
      userId: user.userId,
      modelId: model.id,
      stream: true,
      route: { kind: 'custom_endpoint', providerModelId: 'llama3' },
      decision: { decision: 'approved', reason: 'custom_endpoint' },
    });
    expect(JSON.stringify(data)).not.toContain(secret);
    expect((data.route as { sealedApiKey: string }).sealedApiKey).toMatch(/^v1\./);
    expect((await stack.dumpRedis()).includes(secret)).toBe(false);
    await (await pending).text();
  });
});

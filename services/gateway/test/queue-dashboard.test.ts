import { clientRequestId, INFERENCE_QUEUE, newId, redisKeys } from '@creditgate/contracts';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, startStack, type Stack } from '../../../test/support/stack.js';

/**
 * The BullMQ dashboard at /admin/queues: admin only (refusals in the OpenAI envelope), usable
 * from a browser through Basic auth, read-only, and showing no prompt, sealed secret or custom
 * endpoint URL of the jobs it lists. No worker runs, so a submitted job stays in the queue.
 */
const PROMPT_MARKER = 'prompt-text-the-operator-must-not-see-7f3a';
const ENDPOINT_KEY = 'sk-home-endpoint-dashboard-secret-0451';

let stack: Stack;
let admin: { userId: string; apiKey: string };
let user: { userId: string; apiKey: string };
let endpointUrl: string;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  [admin, user] = await Promise.all([stack.createUser('operator'), stack.createUser('member')]);
  await stack.gateway.deps.billing.capabilities.grant.mutate({
    userId: admin.userId,
    capability: 'admin',
  });
  endpointUrl = stack.endpoint('dashboard-home');
});

afterAll(async () => {
  await stack?.close();
});

const dashboard = (path = '', headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${stack.gateway.url}/admin/queues${path}`, { method, headers });
const bearer = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
const basic = (apiKey: string) => ({
  authorization: `Basic ${Buffer.from(`operator:${apiKey}`).toString('base64')}`,
});

describe('who may open the queue dashboard', () => {
  it('asks for credentials without a key: 401 in the OpenAI envelope, with a Basic challenge', async () => {
    for (const path of ['', '/api/queues']) {
      const response = await dashboard(path);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="creditgate admin"/);
      expect((await envelope(response)).error.code).toBe('invalid_api_key');
    }
  });

  it('refuses an unknown key with 401', async () => {
    const response = await dashboard('/api/queues', bearer('cg_not-a-key-of-anyone-at-all-000'));
    expect(response.status).toBe(401);
    expect((await envelope(response)).error.code).toBe('invalid_api_key');
  });

  it('refuses a valid key without the admin capability with 403 forbidden', async () => {
    for (const headers of [bearer(user.apiKey), basic(user.apiKey)]) {
      const response = await dashboard('/api/queues', headers);
      expect(response.status).toBe(403);
      const body = await envelope(response);
      expect(body.error.code).toBe('forbidden');
      expect(body.error.message).toMatch(/admin capability/);
    }
  });

  it('opens for an admin with a Bearer key or Basic credentials (browsers)', async () => {
    const page = await dashboard('', basic(admin.apiKey));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('creditgate queues');

    const api = await dashboard('/api/queues', bearer(admin.apiKey));
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(body.queues.map((queue) => [queue.name, queue.readOnlyMode])).toEqual([
      [INFERENCE_QUEUE, true],
    ]);
  });

  it('closes for an admin whose capability is revoked, from the next request on', async () => {
    const other = await stack.createUser('former operator');
    const { billing } = stack.gateway.deps;
    await billing.capabilities.grant.mutate({ userId: other.userId, capability: 'admin' });
    expect((await dashboard('/api/queues', bearer(other.apiKey))).status).toBe(200);

    await billing.capabilities.revoke.mutate({ userId: other.userId, capability: 'admin' });
    expect((await dashboard('/api/queues', bearer(other.apiKey))).status).toBe(403);
  });
});

describe('what the dashboard shows of a queued job', () => {
  it('lists it by request id, user, model and route, without prompt, secret or endpoint URL; and changes nothing', async () => {
    const model = await stack.trpc(user.apiKey).models.createCustom.mutate({
      name: 'home',
      providerModelId: 'llama3',
      baseUrl: endpointUrl,
      apiKey: ENDPOINT_KEY,
    });
    const sentId = newId('request');
    const requestId = clientRequestId(user.apiKey, sentId);
    const events = new QueueEvents(INFERENCE_QUEUE, {
      connection: { url: stack.env.REDIS_URL! },
      prefix: redisKeys(stack.prefix).bullPrefix,
    });
    await events.waitUntilReady();
    const queued = new Promise<void>((resolve) =>
      events.on('waiting', ({ jobId }) => jobId === requestId && resolve()),
    );

    // No worker runs: the request waits in the queue until the client gives up.
    const client = new AbortController();
    const pending = fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal: client.signal,
      headers: {
        ...bearer(user.apiKey),
        'content-type': 'application/json',
        'x-request-id': sentId,
      },
      body: JSON.stringify({
        model: model.id,
        messages: [{ role: 'user', content: PROMPT_MARKER }],
      }),
    }).catch(() => undefined);
    await queued;
    await events.close();

    const list = await dashboard(
      `/api/queues?activeQueue=${INFERENCE_QUEUE}&status=waiting&page=1&jobsPerPage=10`,
      bearer(admin.apiKey),
    );
    const one = await dashboard(
      `/api/queues/${INFERENCE_QUEUE}/${requestId}`,
      bearer(admin.apiKey),
    );
    expect(list.status).toBe(200);
    expect(one.status).toBe(200);
    const texts = [await list.text(), await one.text()];

    const job = (JSON.parse(texts[1]!) as { job: { data: Record<string, unknown> } }).job;
    expect(job.data).toMatchObject({
      requestId,
      userId: user.userId,
      modelId: model.id,
      route: { kind: 'custom_endpoint', providerModelId: 'llama3', hasApiKey: true },
      messages: 1,
    });
    const sealed = await stack.queue.getJob(requestId);
    const sealedKey = (sealed!.data as { route: { sealedApiKey: string } }).route.sealedApiKey;
    for (const text of texts) {
      expect(text).toContain(requestId);
      for (const hidden of [PROMPT_MARKER, ENDPOINT_KEY, sealedKey, endpointUrl, '127.0.0.1']) {
        expect(text).not.toContain(hidden);
      }
    }

    // Read-only: actions on the queue or the job are refused, and the job is untouched.
    for (const path of [`/${INFERENCE_QUEUE}/pause`, `/${INFERENCE_QUEUE}/${requestId}/promote`]) {
      const refused = await dashboard(`/api/queues${path}`, bearer(admin.apiKey), 'PUT');
      expect(refused.status).toBe(405);
    }
    expect(await stack.queue.getJobState(requestId)).toBe('waiting');

    client.abort();
    await pending;
  });
});

import { clientRequestId } from '@creditgate/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorReply, gate, streamReply } from '../support/fake-upstream.js';
import {
  OPENAI_SCENARIO,
  PLATFORM_KEYS,
  SERVICE_TOKEN,
  startStack,
  type Stack,
} from '../support/stack.js';

/**
 * Secrets stay secret across the whole stack: a custom endpoint's apiKey and a BYO provider
 * key go through every route and error path with all three services logging at trace, and
 * appear afterwards in no response body, no log line, no Redis value and no database row
 * except as ciphertext.
 *
 * The keys are shaped so that no value-based scrubber recognises them (no `sk-` prefix): the
 * logger's and the worker's pattern redaction are a safety net, and this sweep checks that
 * nothing relies on it.
 */
const CUSTOM_KEY = 'homelab.Sweep-4f1c9e2a7b3d5e6f';
const ROTATED_KEY = 'homelab.Sweep-rotated-9a8b7c6d';
const BYO_KEY = 'byo.Sweep-openai-1a2b3c4d5e6f7a8b';
const SECRETS = [CUSTOM_KEY, ROTATED_KEY, BYO_KEY, PLATFORM_KEYS.OPENAI_API_KEY];

/** A secret as it could appear once encoded (plain text, URL or base64 encoded). */
const forms = (secret: string) => [
  secret,
  encodeURIComponent(secret),
  Buffer.from(secret).toString('base64'),
];

let stack: Stack;
let owner: { userId: string; apiKey: string };
let stranger: { userId: string; apiKey: string };
const held = gate();

/** Every response body any client of this file received, read to its end. */
const bodies: string[] = [];
const reading: Promise<void>[] = [];
const seen: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  reading.push(
    response
      .clone()
      .text()
      .then(
        (text) => void bodies.push(text),
        () => undefined,
      ),
  );
  return response;
};

const hello = [{ role: 'user' as const, content: 'hi' }];

/** What host names resolve to, for the SSRF guards; a test repoints one after its check. */
const hosts: Record<string, string[]> = { 'flip.example.test': ['93.184.216.34'] };

beforeAll(async () => {
  stack = await startStack({
    logLevel: 'trace',
    env: { UPSTREAM_MAX_RETRIES: '0' },
    resolve: async (host) => {
      const addresses = hosts[host];
      if (!addresses) throw new Error(`ENOTFOUND ${host}`);
      return addresses;
    },
  });
  owner = await stack.createUser('owner');
  stranger = await stack.createUser('stranger');
});

afterAll(async () => {
  held.open();
  await stack?.close();
});

function call(path: string, init: RequestInit & { apiKey?: string } = {}) {
  const { apiKey, ...rest } = init;
  return seen(`${stack.gateway.url}${path}`, {
    ...rest,
    headers: {
      'content-type': 'application/json',
      ...(apiKey && { authorization: `Bearer ${apiKey}` }),
      ...rest.headers,
    },
  });
}

const chat = (apiKey: string, body: unknown, init: RequestInit = {}) =>
  call('/v1/chat/completions', {
    ...init,
    method: 'POST',
    apiKey,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Resolves to the error of a call expected to fail (tRPC or openai client). */
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error as { message: string },
  );

/** A tRPC subscription's events until its last one. */
function subscribe(apiKey: string, model: string) {
  return new Promise<Array<{ type: string }>>((resolve, reject) => {
    const events: Array<{ type: string }> = [];
    // Events are recorded as they arrive: a copied SSE body would hold the connection open.
    const subscription = stack.trpc(apiKey).chat.stream.subscribe(
      { model, messages: hello },
      {
        onData: ({ data }) => {
          events.push(data);
          bodies.push(JSON.stringify(data));
          if (data.type === 'done' || data.type === 'error') {
            subscription.unsubscribe();
            resolve(events);
          }
        },
        onError: (error: Error) => {
          bodies.push(error.message);
          reject(error);
        },
      },
    );
  });
}

const models: Record<string, string> = {};

describe('exercising every route and error path', () => {
  it('custom model procedures', async () => {
    const trpc = stack.trpc(owner.apiKey, { fetch: seen });
    const endpoints = {
      home: stack.endpoint('home', streamReply({ content: ['Hi', ' there'] })),
      refuses: stack.endpoint(
        'refuses',
        errorReply(401, `Incorrect API key provided: ${CUSTOM_KEY}. Check your key.`),
      ),
      breaks: stack.endpoint(
        'breaks',
        streamReply({ content: ['Hi'], errorMessage: `key ${CUSTOM_KEY} was revoked mid-stream` }),
      ),
      hangs: stack.endpoint(
        'hangs',
        streamReply({ content: ['Hi'] }, { after: 2, release: held.promise }),
      ),
    };
    for (const [name, baseUrl] of Object.entries(endpoints)) {
      const model = await trpc.models.createCustom.mutate({
        name,
        providerModelId: 'served-model',
        baseUrl,
        apiKey: CUSTOM_KEY,
      });
      expect(model.hasApiKey).toBe(true);
      models[name] = model.id;
    }

    const port = new URL(endpoints.home).port;
    await Promise.all([
      failure(
        trpc.models.createCustom.mutate({
          name: 'home',
          providerModelId: 'x',
          baseUrl: endpoints.home,
          apiKey: CUSTOM_KEY,
        }),
      ),
      failure(
        trpc.models.createCustom.mutate({
          name: 'credentials',
          providerModelId: 'x',
          baseUrl: `http://me:${CUSTOM_KEY}@127.0.0.1:${port}/v1`,
          apiKey: CUSTOM_KEY,
        }),
      ),
      failure(
        trpc.models.createCustom.mutate({
          name: 'bad types',
          providerModelId: 'x',
          baseUrl: endpoints.home,
          apiKey: CUSTOM_KEY,
          maxOutputTokens: CUSTOM_KEY as unknown as number,
        }),
      ),
      failure(
        stack
          .trpc(stranger.apiKey, { fetch: seen })
          .models.updateCustom.mutate({ id: models.home!, apiKey: CUSTOM_KEY }),
      ),
    ]);

    await trpc.models.updateCustom.mutate({ id: models.home!, apiKey: ROTATED_KEY });
    await trpc.models.list.query();
    await call('/v1/models', { apiKey: owner.apiKey });
    const doomed = await trpc.models.createCustom.mutate({
      name: 'doomed',
      providerModelId: 'x',
      baseUrl: endpoints.home,
      apiKey: CUSTOM_KEY,
    });
    await trpc.models.deleteCustom.mutate({ id: doomed.id });
  });

  it('chat completions: answered, refused, failed and abandoned', async () => {
    const openai = stack.openai(owner.apiKey, { fetch: seen });

    const stream = await openai.chat.completions.create({
      model: models.home!,
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const _chunk of stream);
    expect(stack.upstream.requests('home').at(-1)?.headers.authorization).toBe(
      `Bearer ${ROTATED_KEY}`,
    );
    const completion = await openai.chat.completions.create({
      model: models.home!,
      messages: hello,
    });
    expect((await subscribe(owner.apiKey, models.home!)).at(-1)?.type).toBe('done');

    expect(
      (await chat(owner.apiKey, { model: models.refuses, messages: hello, stream: true })).status,
    ).toBe(502);
    expect((await chat(owner.apiKey, { model: models.refuses, messages: hello })).status).toBe(502);
    expect((await subscribe(owner.apiKey, models.refuses!)).at(-1)?.type).toBe('error');
    const broken = await chat(owner.apiKey, {
      model: models.breaks,
      messages: hello,
      stream: true,
    });
    expect(await broken.text()).toContain('upstream_error');

    const controller = new AbortController();
    const abandoned = await chat(
      owner.apiKey,
      { model: models.hangs, messages: hello, stream: true },
      { headers: { 'x-request-id': 'req_sweep_abandoned' }, signal: controller.signal },
    );
    await abandoned.body!.getReader().read();
    controller.abort();
    await stack.upstream.disconnected('hangs');
    await stack.workerEvents(clientRequestId(owner.apiKey, 'req_sweep_abandoned'));

    const statuses = await Promise.all([
      chat(owner.apiKey, { model: 'no-such-model', messages: hello }),
      chat(owner.apiKey, '{"model": "gpt-4o-mini", "messages": ['),
      chat(owner.apiKey, { model: models.home, messages: [], apiKey: CUSTOM_KEY }),
      chat(CUSTOM_KEY, { model: models.home, messages: hello }),
      chat('', { model: models.home, messages: hello }),
      chat(stranger.apiKey, { model: models.home, messages: hello }),
      chat(stranger.apiKey, { model: 'gpt-4o-mini', messages: hello }),
    ]).then((responses) => responses.map((r) => r.status));
    expect(statuses).toEqual([404, 400, 400, 401, 401, 404, 402]);

    for (const id of [completion.id, 'req_unknown_sweep', 'not a valid id']) {
      await call(`/v1/generation?id=${encodeURIComponent(id)}`, { apiKey: owner.apiKey });
    }
  });

  it('limits, timeouts and the SSRF guard at call time', async () => {
    const limited = await stack.createUser('limited');
    const trpc = stack.trpc(limited.apiKey, { fetch: seen });
    const silent = await trpc.models.createCustom.mutate({
      name: 'silent',
      providerModelId: 'served-model',
      baseUrl: stack.endpoint('silent', { kind: 'silent' }),
      apiKey: CUSTOM_KEY,
    });
    const port = new URL(stack.upstream.url).port;
    const flip = await trpc.models.createCustom.mutate({
      name: 'flip',
      providerModelId: 'served-model',
      baseUrl: `http://flip.example.test:${port}/home/v1`,
      apiKey: CUSTOM_KEY,
    });
    // Public when the model was saved, internal when the worker connects.
    hosts['flip.example.test'] = ['10.0.0.7'];
    const refused = await chat(limited.apiKey, { model: flip.id, messages: hello });
    expect(refused.status).toBe(502);
    const { error } = (await refused.json()) as { error: { message: string } };
    expect(error.message).toContain('private_address');
    expect(error.message).not.toContain('10.0.0.7');

    // The per-key limit is counted in Redis, so it includes this user's calls above.
    const strict = await stack.addGateway({
      RATE_LIMIT_PER_MINUTE: '6',
      BODY_LIMIT_BYTES: '2048',
      STREAM_TIMEOUT_MS: '500',
    });
    const strictCall = (path: string, init: RequestInit = {}) =>
      seen(`${strict.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${limited.apiKey}`, 'content-type': 'application/json' },
      });
    const post = (body: object) =>
      strictCall('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) });

    expect((await post({ model: silent.id, messages: hello })).status).toBe(504);
    await stack.upstream.disconnected('silent');
    const padded = [{ role: 'user', content: `${'x'.repeat(3000)} ${CUSTOM_KEY}` }];
    expect((await post({ model: silent.id, messages: padded })).status).toBe(413);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await strictCall('/v1/models')).status);
    expect(statuses).toContain(429);
  });

  it('provider keys and platform models, on the platform key and on a BYO key', async () => {
    const trpc = stack.trpc(owner.apiKey, { fetch: seen });
    await stack.mint(owner.userId, '1');
    const openai = stack.openai(owner.apiKey, { fetch: seen });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });

    await trpc.providerKeys.set.mutate({ provider: 'openai', key: BYO_KEY });
    await trpc.providerKeys.list.query();
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
    expect(stack.upstream.requests(OPENAI_SCENARIO).at(-1)?.headers.authorization).toBe(
      `Bearer ${BYO_KEY}`,
    );
    stack.upstream.scenario(
      OPENAI_SCENARIO,
      errorReply(401, `Incorrect API key provided: ${BYO_KEY}.`),
    );
    expect(
      (await chat(owner.apiKey, { model: 'gpt-4o-mini', messages: hello, stream: true })).status,
    ).toBe(502);

    await failure(trpc.providerKeys.set.mutate({ provider: BYO_KEY as 'openai', key: BYO_KEY }));
    await failure(trpc.providerKeys.set.mutate({ provider: 'openai', key: 'short' }));
    await trpc.providerKeys.delete.mutate({ provider: 'openai' });
  });

  it('account, key and admin procedures', async () => {
    const trpc = stack.trpc(owner.apiKey, { fetch: seen });
    await trpc.credits.balance.query();
    await trpc.credits.holds.query();
    await trpc.credits.history.query({});
    await trpc.credits.usage.query({});
    const created = await trpc.keys.create.mutate({ name: 'second' });
    await trpc.keys.list.query();
    await trpc.keys.revoke.mutate({ id: created.id });
    await failure(trpc.admin.balance.query({ userId: owner.userId }));
    await failure(trpc.credits.send.mutate({ toUserId: stranger.userId, amount: '0.1' }));

    await stack.gateway.deps.billing.capabilities.grant.mutate({
      userId: owner.userId,
      capability: 'admin',
    });
    await trpc.admin.createUser.mutate({ name: 'made by an admin' });
    await trpc.admin.mint.mutate({ userId: stranger.userId, amount: '0.5' });
    await trpc.admin.balance.query({ userId: stranger.userId });
    await trpc.admin.capabilities.query({ userId: owner.userId });
  });

  it('the admin CLI', async () => {
    const results = await Promise.all([
      stack.cli(['key:add', '--user', owner.userId, '--provider', 'openai', '--key', BYO_KEY]),
      stack.cli(['key:add', '--user', 'usr_nobody', '--provider', 'openai', '--key', BYO_KEY]),
      stack.cli(['key:add', '--user', owner.userId, '--provider', 'nope', '--key', BYO_KEY]),
    ]);
    expect(results.map((result) => result.code === 0)).toEqual([true, false, false]);
    for (const result of results) bodies.push(result.stdout, result.stderr);
  });

  it('health, readiness and metrics of all three services', async () => {
    const worker = `http://127.0.0.1:${stack.workers[0]!.port}`;
    for (const url of [
      `${stack.gateway.url}/healthz`,
      `${stack.gateway.url}/readyz`,
      `${stack.gateway.url}/metrics`,
      `${stack.billing.url}/healthz`,
      `${stack.billing.url}/readyz`,
      `${stack.billing.url}/metrics`,
      `${worker}/healthz`,
      `${worker}/readyz`,
      `${worker}/metrics`,
    ]) {
      await seen(url);
      await seen(url, { headers: { 'x-service-token': SERVICE_TOKEN } });
    }
  });
});

describe('afterwards, no secret is anywhere but sealed', () => {
  const leaks = (text: string) => SECRETS.flatMap(forms).filter((form) => text.includes(form));

  it('in no response body', async () => {
    await Promise.all(reading);
    expect(bodies.length).toBeGreaterThan(50);
    expect(leaks(bodies.join('\n'))).toEqual([]);
  });

  it('in no log line of any service, at trace level', () => {
    const lines = stack.logs.map((line) => JSON.parse(line) as { service: string; level: number });
    expect(new Set(lines.map((line) => line.service))).toEqual(
      new Set(['gateway', 'billing', 'inference']),
    );
    expect(lines.some((line) => line.level <= 20)).toBe(true);
    expect(leaks(stack.logs.join(''))).toEqual([]);
  });

  it('in no Redis value', async () => {
    const dump = await stack.dumpRedis();
    expect(dump).toContain(':events:');
    expect(leaks(dump)).toEqual([]);
  });

  it('in the databases only as ciphertext', async () => {
    const gateway = await stack.dumpDatabase('gateway');
    expect(leaks(gateway)).toEqual([]);
    expect(leaks(await stack.dumpDatabase('billing'))).toEqual([]);

    const tables = JSON.parse(gateway) as Record<string, Array<Record<string, unknown>>>;
    const sealed = [
      ...tables.custom_models!.map((row) => row.sealed_api_key),
      ...tables.provider_keys!.map((row) => row.sealed_key),
    ];
    expect(sealed.length).toBeGreaterThan(4);
    for (const value of sealed) expect(value).toMatch(/^v1\./);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import { startHarness, terminalOf, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function call(name: string, baseUrl: (root: string) => string, apiKey?: string) {
  const root = h.fixtures.scenario(name, { kind: 'sse', body: fixture('ollama.sse') });
  const job = await h.submit({
    route: h.customRoute(baseUrl(root), apiKey),
    modelId: `mdl_${name}`,
  });
  const end = terminalOf(await h.events(job.requestId));
  return { end, request: h.fixtures.requests(name)[0]! };
}

describe('keys', () => {
  it('calls a server that needs no key without any Authorization header', async () => {
    const { end, request } = await call('no-key', (root) => `${root}/v1`);
    expect(end.type).toBe('end');
    expect(request.headers.authorization).toBeUndefined();
    expect(request.headers['openai-organization']).toBeUndefined();
    expect(request.headers['openai-project']).toBeUndefined();
    expect(JSON.stringify(request.headers)).not.toContain('creditgate-no-key');
  });

  it('sends the endpoint key as a bearer token', async () => {
    const { request } = await call('with-key', (root) => `${root}/v1`, 'sk-local-vllm-key');
    expect(request.headers.authorization).toBe('Bearer sk-local-vllm-key');
  });
});

describe('base URLs are used as given, then /chat/completions', () => {
  it.each([
    ['a /v1 base', (root: string) => `${root}/v1`, '/v1/chat/completions'],
    ['a trailing slash', (root: string) => `${root}/v1/`, '/v1/chat/completions'],
    [
      'a base that already ends in /chat/completions',
      (root: string) => `${root}/v1/chat/completions`,
      '/v1/chat/completions',
    ],
    ['a base without /v1 (nothing is guessed)', (root: string) => root, '/chat/completions'],
    [
      'a Gemini-style path',
      (root: string) => `${root}/v1beta/openai/`,
      '/v1beta/openai/chat/completions',
    ],
    [
      'a query string',
      (root: string) => `${root}/openai/deployments/d?api-version=2024-10-21`,
      '/openai/deployments/d/chat/completions?api-version=2024-10-21',
    ],
  ])('%s', async (label, baseUrl, path) => {
    const name = `base-${label.replace(/[^a-z]+/gi, '-')}`;
    const { end, request } = await call(name, baseUrl);
    expect(end.type).toBe('end');
    expect(request.path).toBe(path);
  });
});

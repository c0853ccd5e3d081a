import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_TOKEN, startStack, type Stack } from '../support/stack.js';

/**
 * `/metrics` of every service answers only the service token or the operator's METRICS_TOKEN:
 * the gateway's sits on the public port, and metrics name models, outcomes and queue depth.
 */
const METRICS_TOKEN = 'metrics-scraper-token-0123456789';

let stack: Stack;
let apiKey: string;
beforeAll(async () => {
  stack = await startStack({ env: { METRICS_TOKEN } });
  ({ apiKey } = await stack.createUser('metrics reader'));
});
afterAll(async () => {
  await stack?.close();
});

const services = () => ({
  gateway: `${stack.gateway.url}/metrics`,
  billing: `${stack.billing.url}/metrics`,
  inference: `http://127.0.0.1:${stack.workers[0]!.port}/metrics`,
});

describe.each(['gateway', 'billing', 'inference'] as const)('%s /metrics', (service) => {
  const refused: Record<string, Record<string, string>> = {
    'no token': {},
    'a wrong token': { authorization: `Bearer ${SERVICE_TOKEN}0` },
    'a prefix of the token': { authorization: `Bearer ${SERVICE_TOKEN.slice(0, -1)}` },
    'a user API key': { authorization: `Bearer ${apiKey}` },
    'a token in the query string': {},
  };

  it.each(Object.keys(refused))('refuses %s with 401', async (caller) => {
    const url =
      caller === 'a token in the query string'
        ? `${services()[service]}?token=${SERVICE_TOKEN}`
        : services()[service];
    const response = await fetch(url, { headers: refused[caller] });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { code: string; type: string } };
    expect(body.error).toMatchObject({ code: 'invalid_api_key', type: 'authentication_error' });
  });

  it.each([
    ['the service token as a bearer', { authorization: `Bearer ${SERVICE_TOKEN}` }],
    ['the service token header', { 'x-service-token': SERVICE_TOKEN }],
    ['METRICS_TOKEN as a bearer', { authorization: `Bearer ${METRICS_TOKEN}` }],
  ])('serves Prometheus text to %s', async (_caller, headers) => {
    const response = await fetch(services()[service], { headers });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(`service="${service}"`);
  });
});

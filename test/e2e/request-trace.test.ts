import { clientRequestId } from '@creditgate/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

/**
 * One request's id, followed through the logs of all three services: an operator handed the
 * `x-request-id` a client sent (or the id the client got back) finds every line about it.
 * Billing logs authorizations and settlements at debug, so the services log at debug here.
 */
interface LogLine {
  service: string;
  msg: string;
  requestId?: string;
  clientRequestId?: string;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ logLevel: 'debug' });
});
afterAll(async () => {
  await stack?.close();
});

describe('a request id in the logs', () => {
  it('is in the response header and in the lines of the gateway, billing and the worker', async () => {
    const user = await stack.createUser('traced');
    await stack.mint(user.userId, '1');
    const sent = 'trace-me-7f3a9c21';

    const { data: completion, response } = await stack
      .openai(user.apiKey)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
        { headers: { 'x-request-id': sent } },
      )
      .withResponse();
    const requestId = clientRequestId(user.apiKey, sent);
    expect(response.headers.get('x-request-id')).toBe(requestId);
    expect(completion.id).toBe(requestId);
    await stack.jobFinished(requestId);

    const lines = () =>
      stack.logs
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.requestId === requestId);
    // The worker settles after the client has its answer; billing logs the settle after that.
    await expect
      .poll(() => new Set(lines().map((line) => line.service)))
      .toEqual(new Set(['gateway', 'billing', 'inference']));

    // The gateway's line for the request names the value the client sent, so either id finds it.
    const requestLine = lines().find(
      (line) => line.service === 'gateway' && line.msg === 'request',
    );
    expect(requestLine).toMatchObject({ clientRequestId: sent });
    expect(lines().filter((line) => line.clientRequestId !== undefined)).toHaveLength(1);
  });

  it('is a fresh one when the client sends none, and no client value is logged', async () => {
    const user = await stack.createUser('untraced');
    await stack.mint(user.userId, '1');
    const { response } = await stack
      .openai(user.apiKey)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^req_/);
    await stack.jobFinished(requestId);

    const gatewayLine = () =>
      stack.logs
        .map((line) => JSON.parse(line) as LogLine)
        .find((line) => line.requestId === requestId && line.msg === 'request');
    await expect.poll(gatewayLine).toBeDefined();
    expect(gatewayLine()).not.toHaveProperty('clientRequestId');
  });
});

import {
  decisionCost,
  newId,
  USAGE_CHANNELS,
  ZERO_USAGE,
  type AuthorizeResult,
  type Usage,
} from '@creditgate/contracts';
import { loadCatalog } from '@creditgate/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixture-server.js';
import { startHarness, terminalOf, type Harness } from './support/harness.js';

/*
 * The worker tells the client a request's cost before billing has settled it, computed from the
 * prices the authorization carries. These tests hold that figure against what billing burns.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** A small deterministic generator, so a failure names usages that can be replayed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomUsage(random: () => number): Usage {
  const usage = { ...ZERO_USAGE };
  // Odd sizes on every channel: each rounds up to a whole minor unit on its own.
  for (const channel of USAGE_CHANNELS) {
    usage[channel] = random() < 0.2 ? 0 : Math.floor(random() ** 3 * 200_000);
  }
  return usage;
}

describe('the cost shown before settle', () => {
  const userId = 'usr_shown_cost';
  const catalog = loadCatalog();

  beforeAll(async () => {
    await h.mint(userId, '100000');
    await h.mint(userId, '100000', 'claude-credit');
  });

  it('equals what billing burns, for every catalog model and many usages', async () => {
    const random = seeded(20_240_611);
    for (const model of catalog.models) {
      for (let i = 0; i < 25; i++) {
        const requestId = newId('request');
        const decision: AuthorizeResult = await h.billing.authorize.mutate({
          requestId,
          userId,
          modelId: model.id,
          routeClass: 'platform',
          promptTokens: 200_000,
          maxOutputTokens: 400_000,
        });
        expect(decision.decision).toBe('approved');
        expect(decision.prices).toBeDefined();

        const usage = randomUsage(random);
        const shown = decisionCost(decision, usage);
        const settled = await h.billing.settle.mutate({ requestId, usage, status: 'complete' });
        expect({ model: model.id, usage, cost: shown }).toEqual({
          model: model.id,
          usage,
          cost: settled.cost,
        });
      }
    }
  });

  it('is zero for an unmetered route, as billing settles it', async () => {
    const requestId = newId('request');
    const decision = await h.billing.authorize.mutate({
      requestId,
      userId,
      modelId: 'mdl_unmetered',
      routeClass: 'custom_endpoint',
      promptTokens: 10,
      maxOutputTokens: 10,
    });
    expect(decision.prices).toBeUndefined();

    const usage = { ...ZERO_USAGE, input: 10, output: 10 };
    expect(decisionCost(decision, usage)).toBe('0');
    expect((await h.billing.settle.mutate({ requestId, usage, status: 'complete' })).cost).toBe(
      '0',
    );
  });

  it('is unknown without prices, so the worker settles first and shows what billing returned', async () => {
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini'),
      modelId: 'gpt-4o-mini',
      userId,
      decision: { prices: undefined },
    });
    expect(decisionCost(job.decision, ZERO_USAGE)).toBeNull();

    const end = terminalOf(await h.events(job.requestId));
    const details = await h.billing.request.query({ requestId: job.requestId, userId });
    expect(end).toMatchObject({ type: 'end', cost: details.cost });
    expect(details.status).toBe('settled');
  });

  it('through the worker: the end event carries the cost billing then burns', async () => {
    h.fixtures.scenario('openai', { kind: 'sse', body: fixture('openai.sse') });
    const job = await h.submit({
      route: h.platformRoute('openai', 'gpt-4o-mini'),
      modelId: 'gpt-4o-mini',
      userId,
    });

    const end = terminalOf(await h.events(job.requestId));
    expect(end.type).toBe('end');
    const details = await h.billing.request.query({ requestId: job.requestId, userId });
    expect(details.status).toBe('settled');
    expect(end).toMatchObject({ cost: details.cost, usage: details.usage });
    expect(h.proxy.of('settle', job.requestId)).toHaveLength(1);
  });
});

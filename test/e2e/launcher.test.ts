import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import path from 'node:path';
import { parseAmount } from '@creditgate/contracts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/stack.mjs';
import { gate, streamReply } from '../support/fake-upstream.js';
import {
  auditLedger,
  startProcessStack,
  streamChat,
  type ProcessStack,
} from '../support/processes.js';
import { OPENAI_SCENARIO } from '../support/stack.js';

/**
 * `npm start`'s launcher (scripts/start.mjs) under a terminal's Ctrl-C, which signals the whole
 * foreground process group at once: the gateway and the worker must stop before billing, or the
 * settle of a request still streaming finds billing gone and the request is never charged.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = 'gpt-4o-mini';

let ps: ProcessStack;
let launcher: ChildProcess;
let output = '';

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  ps = await startProcessStack();
}, 60_000);

afterAll(async () => {
  // After a failure the launcher may still run; it stops its services (each in its own process
  // group, out of reach of a signal to the launcher's) on SIGTERM.
  if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
    const exited = once(launcher, 'exit');
    launcher.kill('SIGTERM');
    await exited;
  }
  await ps?.close();
}, 60_000);

describe('the npm start launcher', () => {
  it('on Ctrl-C stops billing last, so a request still streaming is settled', async () => {
    const [gatewayPort, billingPort, inferencePort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    ps.env.BILLING_URL = `http://127.0.0.1:${billingPort}`;
    launcher = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: {
        ...ps.env,
        PORT: String(gatewayPort),
        BILLING_PORT: String(billingPort),
        INFERENCE_PORT: String(inferencePort),
        LOG_LEVEL: 'warn',
        SHUTDOWN_GRACE_MS: '30000',
      },
      // Its own process group, like a shell's foreground job: a Ctrl-C signals the whole group.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    launcher.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    launcher.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(launcher, 'exit');

    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    await expect
      .poll(async () => (await fetch(`${gatewayUrl}/readyz`).catch(() => null))?.status, {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(200);

    const user = await ps.createUser('ada', '10');
    const release = gate();
    ps.upstream.scenario(
      OPENAI_SCENARIO,
      streamReply(
        { content: ['a ', 'b ', 'c ', 'd ', 'e '] },
        { after: 2, release: release.promise },
      ),
    );
    const client = new OpenAI({ apiKey: user.apiKey, baseURL: `${gatewayUrl}/v1`, maxRetries: 0 });
    const request = streamChat(client, { model: MODEL, content: 'hello' });
    await request.firstChunk;

    process.kill(-launcher.pid!, 'SIGINT');
    await expect.poll(() => listening(gatewayPort), { timeout: 10_000 }).toBe(false);
    // The worker is still finishing the stream, so billing must still be there to settle it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await listening(billingPort), output).toBe(true);

    release.open();
    const outcome = await request.outcome;
    if (outcome.kind !== 'complete') throw new Error(`the stream failed: ${String(outcome.error)}`);
    expect(outcome.content).toBe('a b c d e ');
    const [code] = await exited;
    expect(code, output).toBe(0);

    // Billing again, on the same database: the request was charged once, at what the client
    // was told, and no hold is left.
    await ps.startBilling();
    const audit = await auditLedger(ps.billing, [user.userId], 0);
    expect(audit.openHolds).toBe(0);
    expect([...audit.burns.keys()]).toEqual([outcome.requestId]);
    expect(audit.burned).toBe(parseAmount(outcome.cost));
    expect(audit.verify.ok).toBe(true);
  }, 120_000);
});

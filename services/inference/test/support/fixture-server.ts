import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');

/** A transcript file from test/fixtures, byte for byte. */
export function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** Splits a transcript into the pieces a server flushes one by one (each SSE event or comment). */
function events(text: string): string[] {
  const parts = text.split(/(?<=\r?\n\r?\n)/);
  return parts.filter((part) => part.length > 0);
}

export type Reply =
  | {
      kind: 'sse';
      body: string;
      status?: number;
      headers?: Record<string, string>;
      /** Stops after this many events until `release` resolves (the rest is then sent). */
      holdAfter?: number;
      release?: Promise<void>;
      /** Waits this long between events: a model that trickles its tokens. */
      intervalMs?: number;
    }
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  /** Headers sent, then nothing: a server that never produces a token. */
  | { kind: 'silent' }
  | { kind: 'redirect'; location: string };

export interface RecordedRequest {
  scenario: string;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

interface Scenario {
  replies: Reply[];
  requests: RecordedRequest[];
  disconnects: number;
  waiters: Array<() => void>;
}

/**
 * A loopback model server replaying recorded transcripts. Each scenario lives under its own
 * first path segment (`/<scenario>/...`), so tests sharing the server never share replies.
 * Replies are consumed in order; the last one repeats.
 */
export class FixtureServer {
  private readonly server: Server;
  private readonly scenarios = new Map<string, Scenario>();
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (part: string) => (raw += part));
      req.on('end', () => this.handle(req.method ?? 'GET', req.url ?? '/', req.headers, raw, res));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Registers replies for a scenario and returns its root URL (`<server>/<name>`). */
  scenario(name: string, ...replies: Reply[]): string {
    this.scenarios.set(name, { replies, requests: [], disconnects: 0, waiters: [] });
    return `${this.url}/${name}`;
  }

  requests(name: string): RecordedRequest[] {
    return this.scenarios.get(name)?.requests ?? [];
  }

  /** Resolves once a client has dropped `count` connections of this scenario mid-reply. */
  disconnected(name: string, count = 1): Promise<void> {
    return this.until(name, (scenario) => scenario.disconnects >= count);
  }

  /** Resolves once this scenario has received `count` requests. */
  requested(name: string, count = 1): Promise<void> {
    return this.until(name, (scenario) => scenario.requests.length >= count);
  }

  private async until(name: string, done: (scenario: Scenario) => boolean): Promise<void> {
    const scenario = this.scenarios.get(name)!;
    while (!done(scenario)) await new Promise<void>((resolve) => scenario.waiters.push(resolve));
  }

  private wake(scenario: Scenario) {
    for (const wake of scenario.waiters.splice(0)) wake();
  }

  private handle(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    raw: string,
    res: ServerResponse,
  ) {
    const [, name = '', ...rest] = url.split('/');
    const scenario = this.scenarios.get(name);
    if (!scenario) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no scenario ${name}` } }));
      return;
    }

    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      body = { unparsable: raw };
    }
    scenario.requests.push({ scenario: name, method, path: `/${rest.join('/')}`, headers, body });
    this.wake(scenario);

    let finished = false;
    res.on('finish', () => (finished = true));
    res.on('close', () => {
      if (finished) return;
      scenario.disconnects += 1;
      this.wake(scenario);
    });

    const reply = scenario.replies.length > 1 ? scenario.replies.shift()! : scenario.replies[0];
    if (!reply) throw new Error(`scenario ${name} has no reply`);
    void this.reply(reply, res);
  }

  private async reply(reply: Reply, res: ServerResponse) {
    switch (reply.kind) {
      case 'json':
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(reply.body));
        return;
      case 'redirect':
        res.writeHead(302, { location: reply.location });
        res.end();
        return;
      case 'silent':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        return;
      case 'sse': {
        res.writeHead(reply.status ?? 200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          ...reply.headers,
        });
        const parts = events(reply.body);
        for (const [index, part] of parts.entries()) {
          if (reply.holdAfter !== undefined && index === reply.holdAfter) await reply.release;
          if (reply.intervalMs && index > 0) await delay(reply.intervalMs);
          if (res.destroyed) return;
          res.write(part);
        }
        res.end();
        return;
      }
    }
  }
}

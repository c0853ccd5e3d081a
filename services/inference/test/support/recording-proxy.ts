import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  /** The tRPC procedure path, e.g. `settle`. */
  procedure: string;
  input: Record<string, unknown>;
  status: number;
}

/**
 * A pass-through HTTP proxy in front of the real billing service that records every tRPC call
 * the worker makes, so tests can count settles and voids and read what was sent.
 */
export class RecordingProxy {
  readonly calls: RecordedCall[] = [];
  private readonly server: Server;
  url = '';

  constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const upstream = request(
          new URL(req.url ?? '/', this.target),
          { method: req.method, headers: { ...req.headers, host: new URL(this.target).host } },
          (answer) => {
            const procedure = (req.url ?? '').replace(/^\/trpc\//, '').split('?')[0]!;
            let input: Record<string, unknown> = {};
            try {
              input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
            } catch {
              input = {};
            }
            this.calls.push({ procedure, input, status: answer.statusCode ?? 0 });
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      });
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

  /** The calls of one procedure for one request id. */
  of(procedure: string, requestId: string): RecordedCall[] {
    return this.calls.filter((c) => c.procedure === procedure && c.input.requestId === requestId);
  }
}

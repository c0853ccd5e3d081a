import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter, once } from 'node:events';

export interface RecordedCall {
  /** The tRPC procedure path, e.g. `settle`. */
  procedure: string;
  input: Record<string, unknown>;
  /** The HTTP status of the call: its own within a batch (from the batch's answer). */
  status: number;
  /** Whether it travelled in a tRPC batch (even a batch of one). */
  batched: boolean;
}

/** One call's answer within a tRPC batch answer: a result, or an error with its HTTP status. */
interface BatchItem {
  error?: { data?: { httpStatus?: number } };
}

/**
 * A pass-through HTTP proxy in front of the real billing service that records every tRPC call
 * the worker makes, so tests can count settles and voids and read what was sent. Batched calls
 * (`/trpc/settle,void?batch=1` with inputs keyed by position) are recorded one by one, each with
 * the status its own answer in the batch carries.
 */
export class RecordingProxy {
  readonly calls: RecordedCall[] = [];
  /** HTTP requests that reached the proxy (a batch is one). */
  httpRequests = 0;
  /** Requests naming this procedure are held (never forwarded) while it is set. */
  private holding: string | null = null;
  private readonly server: Server;
  url = '';

  constructor(private readonly target: string) {
    this.server = createServer((req, res) => {
      this.httpRequests += 1;
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (this.holding && (req.url ?? '').split('?')[0]!.split(/[/,]/).includes(this.holding)) {
          this.held += 1;
          this.emitter.emit('held');
          return;
        }
        const body = Buffer.concat(chunks);
        const upstream = request(
          new URL(req.url ?? '/', this.target),
          { method: req.method, headers: { ...req.headers, host: new URL(this.target).host } },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (part: Buffer) => parts.push(part));
            answer.on('end', () => {
              const answered = Buffer.concat(parts);
              this.record(req.url ?? '/', body, answer.statusCode ?? 0, answered);
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(answered);
            });
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(body);
      });
    });
  }

  private record(url: string, body: Buffer, status: number, answer: Buffer): void {
    const parsed = new URL(url, 'http://proxy');
    const procedures = parsed.pathname.replace(/^\/trpc\//, '').split(',');
    const input = parseJson(body) ?? {};

    if (parsed.searchParams.get('batch') !== '1') {
      this.calls.push({ procedure: procedures[0]!, input, status, batched: false });
      return;
    }
    const answers = (parseJson(answer) as BatchItem[] | undefined) ?? [];
    procedures.forEach((procedure, index) => {
      const item = answers[index];
      this.calls.push({
        procedure,
        input: (input[String(index)] as Record<string, unknown> | undefined) ?? {},
        status: item === undefined ? status : (item.error?.data?.httpStatus ?? 200),
        batched: true,
      });
    });
  }

  held = 0;
  private readonly emitter = new EventEmitter();

  /**
   * Holds every later call of `procedure` (as if billing stopped answering) until `resume`;
   * resolves once one call has been held.
   */
  async hold(procedure: string): Promise<void> {
    this.holding = procedure;
    const before = this.held;
    while (this.held === before) await once(this.emitter, 'held');
  }

  /** Forwards calls again; the held ones stay unanswered (their caller is gone). */
  resume(): void {
    this.holding = null;
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

function parseJson(buffer: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(buffer.toString('utf8') || '{}') as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export interface BatcherOptions {
  /** Most items sent in one batch. */
  maxBatch: number;
  /** Most batches running at once; further items wait and form the next batch. */
  maxInFlight: number;
  /** Called with the size of every batch sent (retries of single items included). */
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Groups concurrent calls into batches. Items submitted in the same turn of the event loop (the
 * calls of one tRPC batch request, say) leave together at the end of that turn, and items
 * arriving while every slot is busy are sent together when one frees up. Under light load a
 * batch holds one item and waits no longer than a turn; under heavy load batches grow, so each
 * transaction (and each disk flush) carries many requests.
 *
 * `run` must be atomic (one statement): when a batch fails, nothing of it was written, and each
 * item is retried alone so that one bad item, a deadlock victim or a transient error fails only
 * the items it belongs to.
 */
export class Batcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight += 1;
      void this.execute(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    this.options.onBatch?.(batch.length);
    try {
      const results = await this.run(batch.map((pending) => pending.item));
      batch.forEach((pending, index) => pending.resolve(results[index]!));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      await Promise.all(batch.map((pending) => this.execute([pending])));
    }
  }
}

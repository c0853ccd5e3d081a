import type { Logger } from '@creditgate/runtime';
import { sweepExpiredHolds, type Ledger } from './ledger/index.js';

/**
 * Releases expired holds every `intervalMs`. Every billing process runs one; the release
 * function locks the rows it changes and skips what another process already released, so
 * concurrent sweeps are harmless.
 */
export function startSweeper(ledger: Ledger, intervalMs: number, log: Logger) {
  let running: Promise<void> | undefined;

  const timer = setInterval(() => {
    if (running) return;
    running = sweepExpiredHolds(ledger)
      .then((expired) => {
        if (expired > 0) log.info({ expired }, 'expired holds released');
      })
      .catch((err: unknown) => log.error({ err }, 'hold sweep failed'))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

// Drives one slice of load with autocannon's programmatic API and records every request's
// latency, and for streams its time to first body byte, from autocannon's own client events.

import autocannon from 'autocannon';

/**
 * Runs `connections` keep-alive connections against `url` for about `seconds`, then drains:
 * each connection finishes the request it has in flight and sends no more, so no request is
 * cut off mid-answer (a cut request would be cancelled and settled as aborted, and the ledger
 * check afterwards could not be exact).
 *
 * Latency is autocannon's: from writing the request to the end of the response. Time to first
 * byte is taken on the same client, from writing the request to the first body bytes parsed
 * (for a stream: the first `data:` frame, since the gateway sends its headers with it).
 */
export function runLoad({ url, headers, body, connections, seconds, verify }) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const ttfbs = [];
    const clients = [];
    const statuses = {};
    let completed = 0;
    let failed = 0;
    let lastResponseAt = 0;
    const startedAt = performance.now();

    const instance = autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        connections,
        // The drain below ends the run; this is only a backstop.
        duration: seconds + 60,
        timeout: 30,
        sampleInt: 100,
        verifyBody: verify,
        setupClient(client) {
          clients.push(client);
          let sentAt = 0;
          let firstByteAt = 0;
          client.on('request', () => {
            sentAt = performance.now();
            firstByteAt = 0;
          });
          client.on('body', () => {
            if (firstByteAt === 0) firstByteAt = performance.now();
          });
          client.on('response', (statusCode, _bytes, responseTime) => {
            statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
            lastResponseAt = performance.now();
            if (statusCode >= 200 && statusCode < 300) {
              completed += 1;
              latencies.push(responseTime);
              if (firstByteAt > 0) ttfbs.push(firstByteAt - sentAt);
            } else {
              failed += 1;
            }
          });
        },
      },
      (error, result) => {
        clearTimeout(drainTimer);
        if (error) return reject(error);
        resolve({
          completed,
          non2xx: failed,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          statuses,
          // Active time: from the start to the last answer of the drain.
          elapsedMs: (lastResponseAt || performance.now()) - startedAt,
          latencies,
          ttfbs,
        });
      },
    );

    const drainTimer = setTimeout(() => {
      // A client whose request count has reached `responseMax` destroys itself at its next send;
      // when every client is done, autocannon stops and reports.
      for (const client of clients) client.responseMax = Math.max(1, client.reqsMade);
    }, seconds * 1000);
    instance.on('error', reject);
  });
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const round = (value, digits = 2) =>
  Number.isFinite(value) ? Number(value.toFixed(digits)) : null;

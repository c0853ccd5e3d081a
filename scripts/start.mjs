// Runs billing, inference and gateway in the foreground with one shared environment.
// Ctrl-C, SIGINT or SIGTERM stops all three cleanly; if one exits, the others are stopped too.
// The gateway and the worker stop first and billing only after both have exited, so the settles
// and voids of requests still running reach it: the services run in their own process groups,
// so a Ctrl-C in the terminal reaches this launcher alone and the order is its to keep.
//
// This is the local launcher. Unless told otherwise it lets custom endpoints point at
// 127.0.0.1, so a model server on the same machine (Ollama, llama.cpp, the echo server in
// scripts/) can be registered, and for the same reason it listens on loopback only: with
// development secrets and that allowance, the stack is not for other machines to reach.
// Deployments set HOST, INFERENCE_HOST and CUSTOM_ENDPOINT_ALLOW themselves.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const services = ['billing', 'inference', 'gateway'];
/** Stopped last: the others settle and void through it while they stop. */
const LAST = 'billing';
const children = new Map();
let stopping = false;

function stopAll() {
  if (stopping) return;
  stopping = true;
  const first = [...children.keys()].filter((name) => name !== LAST);
  if (first.length === 0) children.get(LAST)?.kill('SIGTERM');
  for (const name of first) children.get(name).kill('SIGTERM');
}

for (const name of services) {
  const child = spawn(process.execPath, [path.join(root, 'services', name, 'dist', 'main.js')], {
    cwd: root,
    env: {
      CUSTOM_ENDPOINT_ALLOW: '127.0.0.1',
      HOST: '127.0.0.1',
      INFERENCE_HOST: '127.0.0.1',
      ...process.env,
    },
    stdio: 'inherit',
    detached: true,
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      process.stderr.write(`creditgate: ${name} exited (${signal ?? code}); stopping the stack\n`);
      process.exitCode = code || 1;
      stopAll();
    }
    if (children.size === 1 && children.has(LAST)) children.get(LAST).kill('SIGTERM');
    if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stopAll);
// If this launcher dies without stopping them, the services (in their own process groups) would
// outlive it; stop them as it exits for any reason it can see.
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGTERM');
});

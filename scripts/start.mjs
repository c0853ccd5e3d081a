// Runs billing, inference and gateway in the foreground with one shared environment.
// Ctrl-C or SIGTERM stops all three cleanly; if one exits, the others are stopped too.
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
const children = new Map();
let stopping = false;

function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill(signal);
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
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      process.stderr.write(`creditgate: ${name} exited (${signal ?? code}); stopping the stack\n`);
      stopAll('SIGTERM');
      process.exitCode = code || 1;
    }
    if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
}

process.on('SIGINT', () => stopAll('SIGTERM'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

// Runs billing, inference and gateway in the foreground with one shared environment.
// Ctrl-C or SIGTERM stops all three cleanly; if one exits, the others are stopped too.
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
    env: process.env,
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

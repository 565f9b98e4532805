// The `kubeprism` executable: runs the CLI on the process's arguments and exits with its code. No
// top-level await: the single executable bundles this file as CommonJS, which cannot have one.
import { runCli } from './program.js';

const interrupt = new AbortController();
// `run` installs its own handlers; for watch commands an interrupt ends the stream cleanly (exit 0).
const onInterrupt = (): void => interrupt.abort();
const isRun = process.argv[2] === 'run';
if (!isRun) {
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
}
// `kubeprism get … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

void runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: interrupt.signal,
}).then(
  // Exit explicitly (idle keep-alive sockets would otherwise hold the process), once stdout has flushed.
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    // runCli reports every failure itself; reaching here is a bug, so keep its stack.
    process.stderr.write(`kubeprism: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);

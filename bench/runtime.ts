/**
 * Runtime benchmark: raw write rate, watch fan-out, and change-to-output latency through a
 * two-controller chain. Prints one table with the machine and Node version.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { createState, defineResource, Engine, kindOf, ptr, transformController, type State } from '../src/runtime/index.js';

const Ints = defineResource({ type: 'Ints.bench.kubeprism.dev', defaultNamespace: 'bench', schema: z.object({ value: z.number() }) });
const Strs = defineResource({ type: 'Strs.bench.kubeprism.dev', defaultNamespace: 'bench', schema: z.object({ value: z.string() }) });
const Sentences = defineResource({
  type: 'Sentences.bench.kubeprism.dev',
  defaultNamespace: 'bench',
  schema: z.object({ text: z.string() }),
});

async function open(): Promise<State> {
  const state = await createState({ historyCapacity: 1 << 16 });
  for (const def of [Ints, Strs, Sentences]) await state.registerType(def);
  return state;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Sequential modify() calls on 100 resources, validated and versioned. */
async function writesPerSecond(n: number): Promise<number> {
  const state = await open();
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await state.modify(ptr(Ints, `r${i % 100}`), (d) => void (d.spec.value = i));
  }
  return n / ((performance.now() - started) / 1000);
}

/** Events per second delivered to 100 watchers of one kind while one writer updates. */
async function fanOut(writes: number, watchers: number): Promise<number> {
  const state = await open();
  let delivered = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const subs = Array.from({ length: watchers }, () =>
    state.watchKind(kindOf(Ints)).subscribe(() => {
      if (++delivered === writes * watchers) resolveDone();
    }),
  );
  const started = performance.now();
  for (let i = 0; i < writes; i++) await state.modify(ptr(Ints, 'hot'), (d) => void (d.spec.value = i));
  await done;
  const seconds = (performance.now() - started) / 1000;
  for (const s of subs) s.unsubscribe();
  return delivered / seconds;
}

/** Time from an input write to the derived output of a two-controller chain being visible. */
async function chainLatency(samples: number): Promise<number[]> {
  const state = await open();
  const engine = new Engine(state);
  engine.register(transformController({ name: 'IntToStr', input: Ints, output: Strs, map: (_c, r) => ({ value: String(r.spec.value) }) }));
  engine.register(
    transformController({ name: 'StrToSentence', input: Strs, output: Sentences, map: (_c, r) => ({ text: `n=${r.spec.value}` }) }),
  );
  engine.start();
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    await state.modify(ptr(Ints, 'x'), (d) => void (d.spec.value = i), { initialSpec: { value: -1 } });
    await state.watchFor(ptr(Sentences, 'x'), (r) => r?.spec.text === `n=${i}`);
    latencies.push(performance.now() - started);
  }
  await engine.stop();
  return latencies;
}

async function main(): Promise<void> {
  const runs = 5;
  const writes: number[] = [];
  const fan: number[] = [];
  for (let i = 0; i < runs; i++) {
    writes.push(await writesPerSecond(50_000));
    fan.push(await fanOut(2_000, 100));
  }
  const latencies = await chainLatency(2_000);
  const rows: Array<[string, string]> = [
    ['state writes/s (modify, validated)', Math.round(median(writes)).toLocaleString('en-US')],
    ['watch fan-out events/s (100 watchers)', Math.round(median(fan)).toLocaleString('en-US')],
    ['chain latency p50 (input → 2 controllers → output)', `${median(latencies).toFixed(3)} ms`],
    ['chain latency p99', `${percentile(latencies, 99).toFixed(3)} ms`],
  ];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`kubeprism runtime benchmark — node ${process.version}, ${os.cpus().length} × ${cpu}, ${new Date().toISOString()}`);
  console.log(`median of ${runs} runs (latency over 2,000 samples)\n`);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`| ${'metric'.padEnd(width)} | value |`);
  console.log(`|${'-'.repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
}

await main();

import { UpstreamList, type Backend, type UpstreamChange, type UpstreamListOptions } from '../../src/loadbalancer/upstream-list.js';
import { FakeClock } from '../harness/fake-clock.js';

/** What a fake backend's next checks do. */
export type Behaviour = { kind: 'ok'; latencyMs: number } | { kind: 'fail'; latencyMs: number; message: string } | { kind: 'hang' };

/** A backend whose checks take fake time and succeed, fail or hang on command. */
export class FakeBackend implements Backend {
  behaviour: Behaviour = { kind: 'ok', latencyMs: 5 };
  checks = 0;
  inFlight = 0;
  maxInFlight = 0;
  aborted = 0;
  readonly startedAt: number[] = [];

  constructor(
    readonly name: string,
    private readonly clock: FakeClock,
  ) {}

  ok(latencyMs: number): this {
    this.behaviour = { kind: 'ok', latencyMs };
    return this;
  }

  failing(message = 'boom', latencyMs = 1): this {
    this.behaviour = { kind: 'fail', latencyMs, message };
    return this;
  }

  hanging(): this {
    this.behaviour = { kind: 'hang' };
    return this;
  }

  async healthCheck(signal: AbortSignal): Promise<void> {
    this.checks++;
    this.startedAt.push(this.clock.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    signal.addEventListener('abort', () => this.aborted++, { once: true });
    const b = this.behaviour;
    try {
      if (b.kind === 'hang') return await new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      await this.clock.sleep(b.latencyMs, signal);
      if (b.kind === 'fail') throw new Error(b.message);
    } finally {
      this.inFlight--;
    }
  }
}

/** A list (zero jitter unless overridden) over fake backends named `names`, recording its changes. */
export function setup(names: string[], options: UpstreamListOptions<FakeBackend> = {}) {
  const clock = new FakeClock();
  // random() = 0.5 → zero jitter: checks every interval exactly, unless a test says otherwise.
  const list = new UpstreamList<FakeBackend>({ clock, random: () => 0.5, intervalMs: 1000, timeoutMs: 500, jitter: 0.1, ...options });
  const backends = names.map((n) => new FakeBackend(n, clock));
  const changes: UpstreamChange<FakeBackend>[] = [];
  list.onChange((c) => changes.push(c));
  return { clock, list, backends, changes };
}

/** The score of `b` in `list`. */
export const score = (list: UpstreamList<FakeBackend>, b: FakeBackend) => list.state(b)?.score;

import { Counter, Gauge, type Registry } from 'prom-client';

/** One sample: its label values and its value. */
export type Sample<L extends string> = readonly [labels: Partial<Record<L, string>>, value: number];

/** A gauge or counter to register with {@link registerScrapedMetric}. */
export interface ScrapedMetric<L extends string> {
  readonly kind: 'gauge' | 'counter';
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  /** Every sample at scrape time: series not returned disappear (a removed upstream, a gone source). */
  readonly read: () => Iterable<Sample<L>> | Promise<Iterable<Sample<L>>>;
}

/**
 * A gauge or counter whose values are read from their owner at scrape time rather than pushed as things
 * happen: nothing is counted twice, and a counter is the owner's running total (reset, then set to it).
 */
export function registerScrapedMetric<L extends string>(registry: Registry, metric: ScrapedMetric<L>): void {
  const { kind, name, help, labelNames = [], read } = metric;
  const Metric = kind === 'gauge' ? Gauge : Counter;
  new Metric<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect(this: Gauge<L> | Counter<L>) {
      const samples = await read();
      this.reset();
      for (const [labels, value] of samples) {
        if (this instanceof Gauge) this.set(labels, value);
        else this.inc(labels, value);
      }
    },
  });
}

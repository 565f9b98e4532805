/** A hand-written SVG of the data-path ratios: each contender against HAProxy (1 thread), per metric, log scale. */

/** One bar group: a metric and each contender's ratio to the reference (> 1 is better). */
export interface ChartRow {
  metric: string;
  ratios: Array<{ contender: string; ratio: number }>;
}

const COLORS: Record<string, string> = {
  direct: '#9e9e9e',
  kubeprism: '#326ce5',
  baseline: '#90caf9',
  HAProxy: '#e65100',
  'HAProxy (1 thread)': '#e65100',
  'pipe()': '#8e24aa',
  socat: '#7cb342',
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Render the chart; `subtitle` says what machine and run it came from. */
export function ratioChart(rows: readonly ChartRow[], title: string, subtitle: string): string {
  const contenders = [...new Set(rows.flatMap((r) => r.ratios.map((x) => x.contender)))];
  const barH = 14;
  const gap = 3;
  const groupGap = 16;
  const left = 230;
  const plotW = 520;
  const top = 78;
  const minLog = -3; // 1/8
  const maxLog = 3; // 8×
  const x = (ratio: number): number => left + ((Math.min(maxLog, Math.max(minLog, Math.log2(ratio))) - minLog) / (maxLog - minLog)) * plotW;
  const groupH = (n: number): number => n * (barH + gap) + groupGap;
  const height = top + rows.reduce((h, r) => h + groupH(r.ratios.length), 0) + 40;
  const width = left + plotW + 90;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="22" font-size="16" font-weight="bold">${escape(title)}</text>`);
  out.push(`<text x="${left}" y="40" fill="#555">${escape(subtitle)}</text>`);
  // Legend
  let lx = left;
  for (const c of contenders) {
    out.push(
      `<rect x="${lx}" y="50" width="12" height="12" fill="${COLORS[c] ?? '#444'}"/><text x="${lx + 16}" y="60">${escape(c)}</text>`,
    );
    lx += 24 + c.length * 7;
  }
  // Grid: powers of two, 1× (the reference) emphasised.
  const plotBottom = height - 40;
  for (let e = minLog; e <= maxLog; e++) {
    const gx = x(2 ** e);
    out.push(
      `<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${plotBottom}" stroke="${e === 0 ? '#e65100' : '#ddd'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
    );
    const label = e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}`;
    out.push(`<text x="${gx}" y="${plotBottom + 16}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(
    `<text x="${left + plotW / 2}" y="${plotBottom + 32}" text-anchor="middle" fill="#555">relative to HAProxy with 1 thread (log scale; right of the orange line is better)</text>`,
  );
  let y = top;
  for (const row of rows) {
    out.push(`<text x="${left - 10}" y="${y + ((barH + gap) * row.ratios.length) / 2 + 4}" text-anchor="end">${escape(row.metric)}</text>`);
    for (const { contender, ratio } of row.ratios) {
      if (Number.isFinite(ratio) && ratio > 0) {
        const x0 = x(1);
        const x1 = x(ratio);
        out.push(
          `<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${barH}" fill="${COLORS[contender] ?? '#444'}"><title>${escape(`${contender}: ${ratio.toFixed(2)}× HAProxy (1 thread)`)}</title></rect>`,
        );
        out.push(
          `<text x="${x1 + (x1 >= x0 ? 4 : -4)}" y="${y + barH - 3}" text-anchor="${x1 >= x0 ? 'start' : 'end'}" font-size="10" fill="#333">${ratio.toFixed(2)}</text>`,
        );
      }
      y += barH + gap;
    }
    y += groupGap;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * A hand-written SVG line chart of the fleet runs: one row per scenario, behaviours off and on side by
 * side; in each cell the open client connections per server over time, and beneath them the largest
 * 100-ms count of new client connections in each second. Outages are shaded in the server's colour.
 */
import type { RunSummary } from './summary.js';

/** One cell: a run, or the reason there is none. */
export interface ChartCell {
  label: string;
  run?: RunSummary;
  missing?: string;
}

/** One row: a scenario's title and its cells. */
export interface ChartRowSpec {
  title: string;
  cells: ChartCell[];
}

const COLORS = ['#326ce5', '#e65100', '#7cb342', '#8e24aa', '#00897b'];
const CELL_W = 470;
const PLOT_W = 400;
const OPEN_H = 150;
const HS_H = 55;
const LEFT = 48;
const CELL_H = 30 + OPEN_H + 16 + HS_H + 34;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A round axis maximum at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  v *= 1.04; // headroom: a line at the maximum stays visible
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function polyline(values: readonly number[], x: (i: number) => number, y: (v: number) => number, color: string): string {
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="1.3" points="${points}"/>`;
}

/** Render the chart; `subtitle` says what machine and run it came from. */
export function fleetChart(rows: readonly ChartRowSpec[], title: string, subtitle: string): string {
  const columns = Math.max(1, ...rows.map((r) => r.cells.length));
  const width = 20 + columns * CELL_W;
  const top = 70;
  const height = top + rows.length * (CELL_H + 24) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="20" y="22" font-size="16" font-weight="bold">${escape(title)}</text>`,
    `<text x="20" y="40" fill="#555">${escape(subtitle)}</text>`,
  ];
  const servers = [...new Set(rows.flatMap((r) => r.cells.flatMap((c) => (c.run ? Object.keys(c.run.chart.open) : []))))];
  let lx = 20;
  servers.forEach((name, i) => {
    out.push(
      `<rect x="${lx}" y="50" width="12" height="3" fill="${COLORS[i % COLORS.length]}"/><text x="${lx + 16}" y="55">${escape(name)}</text>`,
    );
    lx += 30 + name.length * 6;
  });
  out.push(`<text x="${lx + 10}" y="55" fill="#555">shaded: server out of service; dashed: last server back</text>`);

  rows.forEach((row, r) => {
    const y0 = top + r * (CELL_H + 24);
    out.push(`<text x="20" y="${y0 + 12}" font-size="13" font-weight="bold">${escape(row.title)}</text>`);
    const runs = row.cells.flatMap((c) => (c.run ? [c.run] : []));
    const seconds = Math.max(1, ...runs.flatMap((run) => Object.values(run.chart.open).map((v) => v.length)));
    const openMax = niceMax(Math.max(0, ...runs.flatMap((run) => Object.values(run.chart.open).flat())));
    const hsMax = niceMax(Math.max(0, ...runs.flatMap((run) => Object.values(run.chart.clientHandshakes).flat())));
    row.cells.forEach((cell, c) => {
      const cx = 20 + c * CELL_W;
      const py = y0 + 30;
      const hy = py + OPEN_H + 16;
      const x = (s: number): number => cx + LEFT + (s / seconds) * PLOT_W;
      const yOpen = (v: number): number => py + OPEN_H - (v / openMax) * OPEN_H;
      const yHs = (v: number): number => hy + HS_H - (v / hsMax) * HS_H;
      out.push(
        `<text x="${cx + LEFT}" y="${py - 4}"><tspan font-weight="bold">${escape(cell.label)}</tspan><tspan fill="#777">&#160;— open client connections</tspan></text>`,
      );
      out.push(`<rect x="${cx + LEFT}" y="${py}" width="${PLOT_W}" height="${OPEN_H}" fill="none" stroke="#bbb"/>`);
      out.push(`<rect x="${cx + LEFT}" y="${hy}" width="${PLOT_W}" height="${HS_H}" fill="none" stroke="#bbb"/>`);
      out.push(`<text x="${cx + LEFT - 4}" y="${py + 8}" text-anchor="end" fill="#555">${openMax}</text>`);
      out.push(`<text x="${cx + LEFT - 4}" y="${py + OPEN_H}" text-anchor="end" fill="#555">0</text>`);
      out.push(`<text x="${cx + LEFT - 4}" y="${hy + 8}" text-anchor="end" fill="#555">${hsMax}</text>`);
      out.push(`<text x="${cx + LEFT - 4}" y="${hy + HS_H}" text-anchor="end" fill="#555">0</text>`);
      out.push(`<text x="${cx + LEFT}" y="${hy - 3}" fill="#777">new client connections, busiest 100 ms of each second</text>`);
      const step = niceMax(seconds / 6);
      for (let s = 0; s <= seconds; s += step) {
        out.push(`<text x="${x(s).toFixed(1)}" y="${hy + HS_H + 13}" text-anchor="middle" fill="#555">${s}</text>`);
      }
      out.push(`<text x="${cx + LEFT + PLOT_W}" y="${hy + HS_H + 26}" text-anchor="end" fill="#555">seconds</text>`);
      if (!cell.run) {
        out.push(
          `<text x="${cx + LEFT + PLOT_W / 2}" y="${py + OPEN_H / 2}" text-anchor="middle" fill="#999">${escape(cell.missing ?? 'not run')}</text>`,
        );
        return;
      }
      const run = cell.run;
      for (const o of run.chart.outages) {
        const color = COLORS[Math.max(0, servers.indexOf(o.server)) % COLORS.length] as string;
        const [a, b] = [x(o.downAtMs / 1000), x(Math.min(seconds, o.upAtMs / 1000))];
        for (const [yy, hh] of [
          [py, OPEN_H],
          [hy, HS_H],
        ] as const) {
          out.push(
            `<rect x="${a.toFixed(1)}" y="${yy}" width="${Math.max(1, b - a).toFixed(1)}" height="${hh}" fill="${color}" fill-opacity="0.12"/>`,
          );
        }
      }
      const fx = x(run.chart.faultEndMs / 1000).toFixed(1);
      out.push(`<line x1="${fx}" y1="${py}" x2="${fx}" y2="${hy + HS_H}" stroke="#555" stroke-dasharray="4,3"/>`);
      servers.forEach((name, i) => {
        const color = COLORS[i % COLORS.length] as string;
        const open = run.chart.open[name];
        const hs = run.chart.clientHandshakes[name];
        if (open) out.push(polyline(open, x, yOpen, color));
        if (hs) out.push(polyline(hs, x, yHs, color));
      });
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

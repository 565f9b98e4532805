import type { ControllerInput, ControllerOutput } from './controller.js';

/** One edge of the dependency graph: resource type → controller (input) or controller → type (output). */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** Input kind (`weak`, `strong`, `destroyReady`) or output kind (`exclusive`, `shared`). */
  readonly kind: string;
  readonly direction: 'input' | 'output';
  /** Set when an input is restricted to one resource id. */
  readonly id?: string;
}

/** The controllers, the resource types they touch, and how they connect. */
export interface ControllerGraph {
  readonly controllers: ReadonlyArray<{ name: string; inputs: readonly ControllerInput[]; outputs: readonly ControllerOutput[] }>;
  readonly resources: readonly string[];
  readonly edges: readonly GraphEdge[];
}

/** Builds the graph from controller declarations. */
export function buildGraph(
  controllers: ReadonlyArray<{ name: string; inputs: readonly ControllerInput[]; outputs: readonly ControllerOutput[] }>,
): ControllerGraph {
  const sorted = [...controllers].sort((a, b) => a.name.localeCompare(b.name));
  const resources = new Set<string>();
  const edges: GraphEdge[] = [];
  for (const c of sorted) {
    for (const input of c.inputs) {
      resources.add(input.type);
      edges.push({
        from: input.type,
        to: c.name,
        kind: input.kind,
        direction: 'input',
        ...(input.id !== undefined ? { id: input.id } : {}),
      });
    }
    for (const output of c.outputs) {
      resources.add(output.type);
      edges.push({ from: c.name, to: output.type, kind: output.kind, direction: 'output' });
    }
  }
  return {
    controllers: sorted.map((c) => ({ name: c.name, inputs: [...c.inputs], outputs: [...c.outputs] })),
    resources: [...resources].sort(),
    edges,
  };
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Graphviz DOT: controllers as boxes, resource types as ellipses, strong inputs bold, shared outputs dashed. */
export function graphToDot(graph: ControllerGraph): string {
  const lines = [
    'digraph kubeprism {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=8];',
  ];
  for (const type of graph.resources) lines.push(`  ${quote(type)} [shape=ellipse];`);
  for (const c of graph.controllers) lines.push(`  ${quote(c.name)} [shape=box, style=filled, fillcolor="#e8f0fe"];`);
  for (const e of graph.edges) {
    const attrs: string[] = [];
    if (e.kind === 'strong') attrs.push('style=bold');
    if (e.kind === 'destroyReady') attrs.push('style=dotted', 'label="destroy-ready"');
    if (e.kind === 'shared') attrs.push('style=dashed');
    // The id an input is restricted to goes in a tooltip: as a label it buries the picture.
    if (e.id !== undefined) attrs.push(`tooltip=${quote(`id ${e.id}`)}`);
    lines.push(`  ${quote(e.from)} -> ${quote(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

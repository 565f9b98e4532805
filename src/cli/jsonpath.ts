import { UsageError } from './io.js';

/**
 * kubectl's `-o jsonpath=TEMPLATE`: text with `{...}` actions. Supported: paths (`{.spec.host}`,
 * `{.items[*].metadata.id}`, `{..id}`, `{.items[0]}`, slices, unions, filters `[?(@.source=="member")]`,
 * keys with dots escaped as `\.` or bracketed as `['kubeprism.dev/source']`), `{@}` for the current object,
 * `{$...}` for the root inside a range, string literals (`{"\n"}`, `{"\t"}`), and `{range EXPR}...{end}`.
 * Evaluation is jsonpath-plus's (with its safe evaluator for filters).
 */
export type TemplateNode =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'path'; readonly path: string; readonly fromRoot: boolean }
  | { readonly kind: 'range'; readonly path: string; readonly fromRoot: boolean; readonly body: readonly TemplateNode[] };

function invalid(template: string, message: string): UsageError {
  return new UsageError(`invalid jsonpath template "${template}": ${message}`);
}

/** The end of a `[...]` (or `{...}`) group starting at `start`, skipping quoted text and nested groups. */
function closing(text: string, start: number, open: string, close: string): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return i;
  }
  return -1;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function segment(name: string): string {
  return IDENTIFIER.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** Translates one kubectl path (`.a.b[*]`, `..id`, `@.x`, `$.y`) into a jsonpath-plus path from `$`. */
export function toJsonPath(template: string, expr: string): { path: string; fromRoot: boolean } {
  const fromRoot = expr.startsWith('$');
  const s = expr.replace(/^[$@]/, '');
  if (s === '' || s === '.') return { path: '$', fromRoot };
  let out = '$';
  let i = 0;
  const readName = (): string => {
    let name = '';
    while (i < s.length && s[i] !== '.' && s[i] !== '[') {
      if (s[i] === '\\' && s[i + 1] === '.') i++;
      name += s[i++];
    }
    return name;
  };
  while (i < s.length) {
    if (s.startsWith('..', i)) {
      i += 2;
      out += '..';
      const name = readName();
      if (name === '*') out += '*';
      else if (name !== '') out += IDENTIFIER.test(name) ? name : `[${JSON.stringify(name)}]`;
    } else if (s[i] === '.') {
      i++;
      const name = readName();
      if (name === '') throw invalid(template, `empty field name in "${expr}"`);
      out += name === '*' ? '.*' : segment(name);
    } else if (s[i] === '[') {
      const end = closing(s, i, '[', ']');
      if (end < 0) throw invalid(template, `unclosed "[" in "${expr}"`);
      out += s.slice(i, end + 1);
      i = end + 1;
    } else {
      throw invalid(template, `unexpected "${s[i]}" in "${expr}" (a path starts with "." or "[", e.g. {.spec.host})`);
    }
  }
  return { path: out, fromRoot };
}

/** Parses a kubectl JSONPath template; a malformed one is a usage error naming what is wrong. */
export function parseTemplate(template: string): TemplateNode[] {
  const root: TemplateNode[] = [];
  const stack: Array<{ nodes: TemplateNode[]; path: string; fromRoot: boolean }> = [];
  let nodes = root;
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      nodes.push({ kind: 'text', text: template.slice(i) });
      break;
    }
    if (open > i) nodes.push({ kind: 'text', text: template.slice(i, open) });
    const close = closing(template, open, '{', '}');
    if (close < 0) throw invalid(template, `unclosed "{" at character ${open + 1}`);
    const action = template.slice(open + 1, close).trim();
    i = close + 1;
    if (action.startsWith('"')) {
      try {
        nodes.push({ kind: 'text', text: String(JSON.parse(action)) });
      } catch {
        throw invalid(template, `bad string literal ${action}`);
      }
    } else if (action === 'end') {
      const frame = stack.pop();
      if (!frame) throw invalid(template, '{end} without {range}');
      const body = nodes;
      nodes = frame.nodes;
      nodes.push({ kind: 'range', path: frame.path, fromRoot: frame.fromRoot, body });
    } else if (/^range\s/.test(action)) {
      stack.push({ nodes, ...toJsonPath(template, action.slice('range'.length).trim()) });
      nodes = [];
    } else if (action === '') {
      throw invalid(template, `empty {} at character ${open + 1}`);
    } else {
      nodes.push({ kind: 'path', ...toJsonPath(template, action) });
    }
  }
  if (stack.length > 0) throw invalid(template, '{range} without {end}');
  return root;
}

type Evaluate = (path: string, json: unknown) => unknown[];

let evaluator: Promise<Evaluate> | undefined;

function loadEvaluator(): Promise<Evaluate> {
  // Loaded only for -o jsonpath: other commands start without it.
  evaluator ??= import('jsonpath-plus').then(({ JSONPath }) => (path, json) => {
    if (path === '$') return [json];
    // jsonpath-plus takes objects and arrays only; a scalar has no fields to find.
    if (typeof json !== 'object' || json === null) return [];
    return JSONPath({ path, json, wrap: true, eval: 'safe' }) as unknown[];
  });
  return evaluator;
}

function print(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return `${value as number}`;
}

/**
 * Renders a parsed template against `data` as kubectl does: several results of one path are separated by
 * spaces, objects print as JSON, a missing field prints nothing. An expression jsonpath-plus refuses is a
 * usage error.
 */
export async function renderTemplate(template: string, nodes: readonly TemplateNode[], data: unknown): Promise<string> {
  const evaluate = await loadEvaluator();
  const run = (path: string, json: unknown): unknown[] => {
    try {
      return evaluate(path, json);
    } catch (err) {
      throw invalid(template, `${path}: ${(err as Error).message}`);
    }
  };
  const render = (list: readonly TemplateNode[], current: unknown): string =>
    list
      .map((node) => {
        if (node.kind === 'text') return node.text;
        const found = run(node.path, node.fromRoot ? data : current);
        if (node.kind === 'path') return found.map(print).join(' ');
        return found.map((item) => render(node.body, item)).join('');
      })
      .join('');
  return render(nodes, data);
}

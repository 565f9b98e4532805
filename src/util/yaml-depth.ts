import { Lexer } from 'yaml';

/** Deeper than any real config or request body nests, and far below where the YAML parser gives out (~800). */
export const MAX_YAML_NESTING = 100;

/** Tokens the lexer emits without a character of the source behind them (document start, flow end, scalar). */
const MARKERS = new Set(['\u0002', '\u0018', '\u001f']);

/** Where in a text something is, 1-based. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Where YAML (or JSON) `text` first nests deeper than `limit` levels; undefined when it never does.
 *
 * The `yaml` library composes documents recursively, one group of stack frames per level, and input
 * nested a few hundred levels deep overflows the stack. When that overflow happens inside V8's
 * regular-expression compiler, V8 aborts the whole process instead of throwing ("RegExpCompiler
 * Allocation failed"): two request bodies of nested brackets were enough to kill the agent. So no text
 * deeper than this may reach the parser. One linear pass over the library's own lexer (iterative, and it
 * knows quotes, comments and block scalars) gives an upper bound of the depth: the open `[`/`{`, plus
 * the block levels around the current position.
 */
export function excessiveYamlNesting(text: string, limit = MAX_YAML_NESTING): TextPosition | undefined {
  let offset = 0;
  let lineAt = 0;
  let flow = 0;
  /**
   * Columns where the enclosing block nodes start, strictly increasing: a nested block node starts
   * further right than its parent, whether on a line of its own (indentation) or after an indicator on
   * the same line (`- - x`, `? k`, `k: v`), so there are at least as many entries as block levels.
   */
  const columns: number[] = [];
  const open = (column: number): void => {
    while (columns.length > 0 && (columns.at(-1) as number) >= column) columns.pop();
    columns.push(column);
  };
  let lineStart = true;
  /** An indicator was just read: the next token starts its child node, at that token's column. */
  let afterIndicator = false;
  for (const token of new Lexer().lex(text)) {
    if (MARKERS.has(token)) continue;
    if (token === '\n' || token === '\r\n') {
      lineStart = true;
      afterIndicator = false;
      offset += token.length;
      lineAt = offset;
      continue;
    }
    const column = offset - lineAt;
    const blank = /^[ \t]+$/u.test(token);
    // Inside a flow collection, line breaks and indentation carry no structure.
    if (flow === 0) {
      if (lineStart) open(blank ? token.length : column);
      else if (afterIndicator && !blank) open(column);
    }
    lineStart = false;
    if (!blank) afterIndicator = false;
    if (token === '[' || token === '{') flow++;
    else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    else if (flow === 0 && (token === '-' || token === '?' || token === ':')) afterIndicator = true;
    if (flow + columns.length > limit) return positionOf(text, offset);
    offset += token.length;
  }
  return undefined;
}

function positionOf(text: string, offset: number): TextPosition {
  let line = 1;
  let lineAt = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineAt = i + 1;
  }
  return { line, column: offset - lineAt + 1 };
}

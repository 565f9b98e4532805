import { UsageError } from './io.js';

/** One requirement of a label selector, as Kubernetes spells them. */
export type LabelRequirement =
  | { readonly op: 'exists' | 'notExists'; readonly key: string }
  | { readonly op: 'equals' | 'notEquals'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notIn'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'greaterThan' | 'lessThan'; readonly key: string; readonly value: number };

/** A parsed `-l` selector: every requirement must hold (comma = AND); empty selects everything. */
export type LabelSelector = readonly LabelRequirement[];

// Kubernetes' label syntax: an optional DNS-subdomain prefix and a name of at most 63 characters.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KEY_TEXT = '[^\\s!=<>(),]+';
const SET = new RegExp(`^(${KEY_TEXT})\\s+(in|notin)\\s*\\((.*)\\)$`);
const COMPARE = new RegExp(`^(${KEY_TEXT})\\s*(==|=|!=|>|<)\\s*(.*)$`);
const NOT_EXISTS = new RegExp(`^!\\s*(${KEY_TEXT})$`);
const EXISTS = new RegExp(`^(${KEY_TEXT})$`);

function invalid(selector: string, message: string): UsageError {
  return new UsageError(`invalid label selector "${selector}": ${message}`);
}

function checkKey(selector: string, key: string): string {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix)))
    throw invalid(selector, `key "${key}": the prefix must be a DNS subdomain (lower-case, e.g. kubeprism.dev)`);
  if (name.length > 63 || !NAME.test(name))
    throw invalid(selector, `key "${key}": the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
  return key;
}

function checkValue(selector: string, key: string, value: string): string {
  if (value === '' || (value.length <= 63 && NAME.test(value))) return value;
  throw invalid(selector, `value "${value}" of "${key}": at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
}

/** Splits at the commas that separate requirements (not those inside `in (a,b)`). */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (depth < 0) throw invalid(selector, `unbalanced ")" at character ${i + 1}`);
    if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw invalid(selector, 'unclosed "("');
  parts.push(selector.slice(start));
  return parts.map((p) => p.trim());
}

function parseRequirement(selector: string, text: string): LabelRequirement {
  if (text === '') throw invalid(selector, 'empty requirement (two commas, or a comma at an end)');
  let m = SET.exec(text);
  if (m) {
    const key = checkKey(selector, m[1] ?? '');
    const values = (m[3] ?? '').split(',').map((v) => v.trim());
    if (values.length === 1 && values[0] === '') throw invalid(selector, `"${key} ${m[2]} ()" needs at least one value`);
    return { op: m[2] === 'in' ? 'in' : 'notIn', key, values: values.map((v) => checkValue(selector, key, v)) };
  }
  m = COMPARE.exec(text);
  if (m) {
    const key = checkKey(selector, m[1] ?? '');
    const op = m[2] ?? '';
    const raw = (m[3] ?? '').trim();
    if (op === '>' || op === '<') {
      if (!/^-?\d+$/.test(raw)) throw invalid(selector, `"${key}${op}" needs an integer (got "${raw}")`);
      return { op: op === '>' ? 'greaterThan' : 'lessThan', key, value: Number(raw) };
    }
    return { op: op === '!=' ? 'notEquals' : 'equals', key, value: checkValue(selector, key, raw) };
  }
  m = NOT_EXISTS.exec(text);
  if (m) return { op: 'notExists', key: checkKey(selector, m[1] ?? '') };
  m = EXISTS.exec(text);
  if (m) return { op: 'exists', key: checkKey(selector, m[1] ?? '') };
  throw invalid(selector, `cannot read "${text}": want KEY, !KEY, KEY=VALUE, KEY!=VALUE, KEY in (A,B) or KEY notin (A,B)`);
}

/**
 * Parses a Kubernetes label selector: `KEY`, `!KEY`, `KEY=VALUE` (or `==`), `KEY!=VALUE`, `KEY in (A,B)`,
 * `KEY notin (A,B)`, `KEY>N`, `KEY<N`, joined by commas (all must hold). A malformed one is a usage error.
 */
export function parseSelector(selector: string): LabelSelector {
  if (selector.trim() === '') return [];
  return splitRequirements(selector).map((part) => parseRequirement(selector, part));
}

function holds(req: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.op) {
    case 'exists':
      return has;
    case 'notExists':
      return !has;
    case 'equals':
      return value === req.value;
    case 'notEquals':
      return value !== req.value;
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notIn':
      return value === undefined || !req.values.includes(value);
    case 'greaterThan':
    case 'lessThan': {
      if (value === undefined || !/^-?\d+$/.test(value)) return false;
      return req.op === 'greaterThan' ? Number(value) > req.value : Number(value) < req.value;
    }
  }
}

/** True when `labels` satisfy every requirement (Kubernetes semantics: `!=` and `notin` also match an absent key). */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((req) => holds(req, labels));
}

import type { IncomingMessage } from 'node:http';
import { parseDocument as parseYamlDocument } from 'yaml';
import { duplicateKeys } from '../config/yaml-documents.js';
import { excessiveYamlNesting, MAX_YAML_NESTING } from '../util/yaml-depth.js';
import { API_CODES, badRequest, HttpError } from './http-errors.js';

/** Largest request body accepted by default: machine configs are tens of kilobytes. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a request body as UTF-8, refusing (413) as soon as it passes `limit`: a declared
 * Content-Length over the limit is refused before a byte is read.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = (): HttpError => new HttpError(413, API_CODES.bodyTooLarge, `request body exceeds ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) return finish(() => reject(tooLarge()));
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish(() => resolve(Buffer.concat(chunks).toString('utf8'))));
    req.once('error', (err) => finish(() => reject(badRequest(`cannot read the request body: ${err.message}`))));
    req.once('close', () => finish(() => reject(badRequest('the client closed the connection before sending the whole body'))));
  });
}

/**
 * Parses a JSON or YAML document (JSON when the content type says so, else YAML, which also reads JSON).
 * Aliases are capped so a "billion laughs" body cannot blow up memory.
 */
export function parseDocument(text: string, contentType: string | undefined): unknown {
  if (text.trim() === '') throw badRequest('empty request body');
  if (contentType?.toLowerCase().includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw badRequest(`malformed JSON: ${(err as Error).message}`);
    }
  }
  // Nesting the parser's recursion cannot take would abort the process, not throw: refuse it unparsed.
  const deep = excessiveYamlNesting(text);
  if (deep !== undefined) {
    throw badRequest(`malformed YAML or JSON: nested more than ${MAX_YAML_NESTING} levels deep (line ${deep.line}, column ${deep.column})`);
  }
  let doc;
  try {
    // Duplicate keys are checked in linear time below; the library's own check is quadratic.
    doc = parseYamlDocument(text, { uniqueKeys: false, prettyErrors: false });
  } catch (err) {
    throw badRequest(`malformed YAML or JSON: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  const problem = doc.errors[0];
  if (problem) throw badRequest(`malformed YAML or JSON: ${problem.message.split('\n')[0] ?? ''}`);
  if (duplicateKeys(doc).length > 0) throw badRequest('malformed YAML or JSON: map keys must be unique');
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    throw badRequest(`malformed YAML or JSON: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
}

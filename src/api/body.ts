import type { IncomingMessage } from 'node:http';
import { toInvalidConfigError } from '../config/issues.js';
import { readYamlDocuments } from '../config/yaml-documents.js';
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
 * YAML goes through the machine-config reader: the same nesting guard, linear duplicate-key check,
 * alias cap, and refusal of what JSON cannot carry (`.inf`, `!!binary`, recursive aliases), with paths.
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
  const read = readYamlDocuments(text);
  if (read.issues.length > 0) {
    const { issues, message } = toInvalidConfigError(read.issues, {
      documentCount: read.documents.length,
      label: () => 'body',
      locate: read.locate,
    });
    throw badRequest(message.split('\n')[0] ?? message, issues); // every problem is in `issues`
  }
  if (read.documents.length !== 1) throw badRequest(`expected one YAML or JSON document, got ${read.documents.length}`);
  return read.documents[0];
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { MEMBER_SOURCE_LABEL } from '../resources/index.js';
import {
  redacted,
  resourceIdProblem,
  type ControllerGraph,
  type Resource,
  type ResourceDefinition,
  type ResourceKind,
  type State,
} from '../runtime/index.js';
import { parseDocument, readBody } from './body.js';
import { API_CODES, badRequest, HttpError } from './http-errors.js';
import { isPlainObject } from '../util/plain-object.js';

/** A type the API may write: resources fed from outside the controllers (Members). */
export interface ExternalType {
  readonly definition: ResourceDefinition;
  /** Creates or replaces the resource; the state validates the spec against the type's schema. */
  put(id: string, spec: unknown): Promise<Resource>;
  /** Removes it; false when finalizers still hold it (it is tearing down). */
  remove(id: string): Promise<boolean>;
}

/** What the resource routes read from: the state, the controller graph (owners) and the writable types. */
export interface ResourceContext {
  readonly state: State;
  readonly graph: () => ControllerGraph;
  readonly external: ReadonlyMap<string, ExternalType>;
  readonly maxBodyBytes: number;
}

/** A resolved `{type}` and the namespace asked for (the type's default when none). */
export interface Target {
  readonly definition: ResourceDefinition;
  readonly kind: ResourceKind;
}

/** Resolves `{type}` (any of its names, any case) and `?namespace=`; unknown namespace → 404. */
export function resolveTarget(state: State, typeName: string, namespace: string | null): Target {
  const definition = state.registry.resolve(typeName);
  const ns = namespace ?? definition.defaultNamespace;
  if (!state.registry.hasNamespace(ns)) {
    throw new HttpError(
      404,
      API_CODES.notFound,
      `namespace "${ns}" does not exist; known namespaces: ${state.registry.namespaces().join(', ')}`,
    );
  }
  return { definition, kind: { namespace: ns, type: definition.type } };
}

/** Checks an id from the URL (already percent-decoded) against the runtime's rule for resource ids. */
export function checkId(id: string): void {
  const problem = resourceIdProblem(id);
  if (problem !== undefined) throw badRequest(`resource id ${problem}`, [{ path: 'metadata.id', message: problem }]);
}

/** The resource as anyone may see it (sensitive specs redacted). */
export function present(state: State, res: Resource): Resource {
  const def = state.registry.get(res.metadata.type);
  return def ? redacted(def, res) : res;
}

/** Every resource of every type in every namespace, redacted, ordered by type, namespace and id. */
export async function listEverything(state: State): Promise<Resource[]> {
  const out: Resource[] = [];
  for (const def of state.registry.definitions()) {
    for (const namespace of state.registry.namespaces()) {
      for (const res of await state.list({ namespace, type: def.type })) out.push(present(state, res));
    }
  }
  return out;
}

/** Who writes a type, for the 403 message: the controllers declaring it as output, else the stored owner. */
function ownerOf(ctx: ResourceContext, def: ResourceDefinition, existing: Resource | undefined): string {
  const writers = ctx
    .graph()
    .controllers.filter((c) => c.outputs.some((o) => o.type === def.type))
    .map((c) => c.name);
  if (writers.length > 0) return writers.join(', ');
  if (existing && existing.metadata.owner !== '') return existing.metadata.owner;
  if (def.defaultNamespace === 'meta') return 'the runtime';
  return 'no API writer';
}

async function refuseOwned(ctx: ResourceContext, target: Target, id: string): Promise<never> {
  const existing = await ctx.state.find({ ...target.kind, id });
  const owner = ownerOf(ctx, target.definition, existing);
  const writable = [...ctx.external.keys()].join(', ');
  const hint = target.definition.type.startsWith('MachineConfigs.') ? '; apply a machine config with PUT /v1/config instead' : '';
  throw new HttpError(
    403,
    API_CODES.forbidden,
    `${target.definition.type} is owned by ${owner}; the API writes only externally fed types (${writable})${hint}`,
  );
}

/**
 * An externally fed type may also hold resources a controller writes (members found in Kubernetes):
 * those stay the controller's. Refused up front, naming the owner and the source, instead of the
 * store's bare owner conflict.
 */
async function refuseControllerWritten(ctx: ResourceContext, target: Target, id: string): Promise<void> {
  const existing = await ctx.state.find({ ...target.kind, id });
  if (!existing || existing.metadata.owner === '') return;
  const source = existing.metadata.labels[MEMBER_SOURCE_LABEL];
  throw new HttpError(
    403,
    API_CODES.forbidden,
    `${target.definition.type} ${id} is owned by ${existing.metadata.owner}${source ? ` (source ${source})` : ''}; ` +
      'the API writes only the ones fed from outside (file, API, embedding agent)',
  );
}

function writableTarget(ctx: ResourceContext, target: Target): ExternalType | undefined {
  const external = ctx.external.get(target.definition.type);
  if (external && target.kind.namespace !== target.definition.defaultNamespace) {
    throw badRequest(`${target.definition.type} lives in namespace "${target.definition.defaultNamespace}" only`);
  }
  return external;
}

/** Reads `{"spec": {...}, "metadata"?: {...}}`; metadata may only repeat what the URL says. */
function specFromBody(body: unknown, target: Target, id: string): unknown {
  if (!isPlainObject(body))
    throw badRequest('body must be an object: {"spec": {...}}', [{ path: '', message: 'must be an object with a spec' }]);
  const extra = Object.keys(body).filter((k) => k !== 'spec' && k !== 'metadata');
  if (extra.length > 0) {
    throw badRequest(`unexpected field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}; the body holds spec and optional metadata`);
  }
  if (!('spec' in body) || body.spec === undefined) throw badRequest('body has no spec', [{ path: 'spec', message: 'required' }]);
  const { metadata } = body;
  if (metadata !== undefined && metadata !== null) {
    if (!isPlainObject(metadata)) throw badRequest('metadata must be an object', [{ path: 'metadata', message: 'must be an object' }]);
    const mismatch = (field: string, want: string): HttpError =>
      badRequest(`metadata.${field} ${JSON.stringify(metadata[field])} does not match the URL (${want})`, [
        { path: `metadata.${field}`, message: `must be ${JSON.stringify(want)} or absent` },
      ]);
    if (metadata.id !== undefined && metadata.id !== id) throw mismatch('id', id);
    if (metadata.namespace !== undefined && metadata.namespace !== target.kind.namespace)
      throw mismatch('namespace', target.kind.namespace);
    if (metadata.type !== undefined && metadata.type !== target.definition.type) throw mismatch('type', target.definition.type);
  }
  return body.spec;
}

/** PUT /v1/resources/{type}/{id}: creates (201) or replaces (200) an externally fed resource. */
export async function putResource(
  ctx: ResourceContext,
  req: IncomingMessage,
  target: Target,
  id: string,
): Promise<{ status: number; body: Resource }> {
  const external = writableTarget(ctx, target);
  if (!external) return refuseOwned(ctx, target, id);
  await refuseControllerWritten(ctx, target, id);
  const text = await readBody(req, ctx.maxBodyBytes);
  const spec = specFromBody(parseDocument(text, req.headers['content-type']), target, id);
  const existed = (await ctx.state.find({ ...target.kind, id })) !== undefined;
  const stored = await external.put(id, spec);
  return { status: existed ? 200 : 201, body: present(ctx.state, stored) };
}

/** DELETE /v1/resources/{type}/{id}: 200 with the removed resource, 202 while finalizers hold it. */
export async function deleteResource(ctx: ResourceContext, target: Target, id: string): Promise<{ status: number; body: Resource }> {
  const external = writableTarget(ctx, target);
  if (!external) return refuseOwned(ctx, target, id);
  await refuseControllerWritten(ctx, target, id);
  const existing = await ctx.state.get({ ...target.kind, id });
  if (await external.remove(id)) return { status: 200, body: present(ctx.state, existing) };
  const now = (await ctx.state.find({ ...target.kind, id })) ?? existing;
  return { status: 202, body: present(ctx.state, now) };
}

/** Sends a JSON body (compact, newline-terminated for terminals). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
